"""The Mirakl sandbox's simulated world: orders, inbox threads, the clock and what it drives.

Time-based behaviour (acceptance -> debit -> SHIPPING, auto-refusal, live order/message rates) is
evaluated lazily at each request (:meth:`MiraklState.settle`, callers hold :attr:`MiraklState.lock`)
against a clock that ``/__admin/advance`` can move forward, so tests never sleep long. The documents
stored are built by :mod:`sandbox.mirakl.render`; the routes (:mod:`sandbox.mirakl.orders`,
:mod:`~sandbox.mirakl.inbox`, :mod:`~sandbox.mirakl.aftersale`, :mod:`~sandbox.mirakl.returns`) and
the admin API (:mod:`sandbox.mirakl.admin`) read and change it.

After the sale (:class:`sandbox.mirakl.aftersale.AftersaleMixin`) extends four steps of this class
with ``super()``: :meth:`MiraklState._settle_at`, :meth:`MiraklState.settings`,
:meth:`MiraklState._snapshot_data`/:meth:`MiraklState._restore_data` and :meth:`MiraklState.forget_all`.
"""

from __future__ import annotations

import copy
import json
import random
import threading
import time
import uuid
from typing import Any

from sandbox.catalog import PRODUCTS_BY_SKU
from sandbox.generator import Generator
from sandbox.mirakl.render import TAXES, display_name, order_document, order_line_document, thread_document
from sandbox.mirakl.wire import MiraklError, iso

ORDER_STATES = (
    "STAGING", "WAITING_ACCEPTANCE", "WAITING_DEBIT", "WAITING_DEBIT_PAYMENT", "SHIPPING", "SHIPPED",
    "TO_COLLECT", "RECEIVED", "CLOSED", "REFUSED", "CANCELED",
)


class MiraklState:
    """One shop's orders and threads on the sandbox clock (see module docstring)."""

    def __init__(
        self,
        *,
        seed: int = 1,
        shop_id: int = 2001,
        shop_name: str = "Orderflow Demo Electronics",
        debit_delay: float = 5.0,
        payment_refused_rate: float = 0.05,
        cancel_rate: float = 0.03,
        acceptance_timeout: float = 24 * 3600.0,
        partial_acceptance: bool = False,
        order_rate: float = 0.0,
        message_rate: float = 0.0,
        update_date_safety: float = 5.0,
        leadtime_to_ship: int = 2,
    ) -> None:
        self.seed = seed
        self.shop_id = shop_id
        self.shop_name = shop_name
        self.debit_delay = debit_delay
        self.payment_refused_rate = payment_refused_rate
        self.cancel_rate = cancel_rate
        self.acceptance_timeout = acceptance_timeout
        self.partial_acceptance = partial_acceptance
        self.order_rate = order_rate
        self.message_rate = message_rate
        self.update_date_safety = update_date_safety
        self.leadtime_to_ship = leadtime_to_ship

        self.lock = threading.RLock()
        self.generator = Generator(seed)
        self.clock_offset = 0.0
        self.orders: dict[str, dict[str, Any]] = {}  # order_id -> record (see create_order)
        self.threads: dict[str, dict[str, Any]] = {}  # thread_id -> API-shaped thread
        self.next_commercial = 250_000_000 + (seed % 1000) * 10_000
        self.started_at = time.time()
        self.live_orders_made = 0
        self.live_messages_made = 0
        self._pending_debit: set[str] = set()
        self._ids = random.Random(f"ids:{seed}")  # thread/message UUIDs, deterministic for a seed

    def now(self) -> float:
        return time.time() + self.clock_offset

    # ------------------------------------------------------------------------------------------
    # Clock-driven behaviour
    # ------------------------------------------------------------------------------------------

    def settle(self) -> None:
        """Apply every transition whose time has come (callers hold the lock)."""
        self._settle_at(self.now())

    def _settle_at(self, now: float) -> None:
        self._live_generation(now)
        for order_id in sorted(self._pending_debit):
            record = self.orders[order_id]
            if record["debit_due"] <= now:
                self._pending_debit.discard(order_id)
                self._debit(record)
        if self.acceptance_timeout > 0:
            for record in self.orders.values():
                order = record["order"]
                if (order["order_state"] == "WAITING_ACCEPTANCE"
                        and record["created_ts"] + self.acceptance_timeout <= now):
                    # Auto-refusal at the acceptance deadline: acceptance_decision_date stays null.
                    self._set_state(record, "REFUSED", record["created_ts"] + self.acceptance_timeout)

    def _live_generation(self, now: float) -> None:
        minutes = max(0.0, (now - self.started_at) / 60.0)
        if self.order_rate > 0:
            due = int(minutes * self.order_rate)
            while self.live_orders_made < due:
                self.live_orders_made += 1
                self.create_order(created_ts=now)
        if self.message_rate > 0 and self.orders:
            due = int(minutes * self.message_rate)
            while self.live_messages_made < due:
                self.live_messages_made += 1
                self.add_customer_message(at=now)

    def _fate(self, order_id: str) -> str:
        # Per order, not per call order: concurrent acceptances give the same outcome for a seed.
        draw = random.Random(f"fate:{self.seed}:{order_id}").random()
        if draw < self.payment_refused_rate:
            return "payment_refused"
        if draw < self.payment_refused_rate + self.cancel_rate:
            return "customer_cancel"
        return "debited"

    def _debit(self, record: dict[str, Any]) -> None:
        at = record["debit_due"]
        fate = record["fate"]
        order = record["order"]
        if fate == "payment_refused":
            self._set_state(record, "CANCELED", at, ("PAYMENT_REFUSED", "Payment refused"))
        elif fate == "customer_cancel":
            self._set_state(record, "CANCELED", at, ("CUSTOMER_CANCELED", "Canceled by the customer"))
        else:
            order["customer_debited_date"] = iso(at, millis=True)
            for line in order["order_lines"]:
                line["debited_date"] = iso(at)
            # The address appears once the order is paid (platform setting, sheet §4).
            order["customer"]["shipping_address"] = copy.deepcopy(record["address"])
            order["customer"]["billing_address"] = copy.deepcopy(record["address"])
            self._set_state(record, "SHIPPING", at)

    def _set_state(
        self, record: dict[str, Any], state: str, at: float, reason: tuple[str, str] | None = None
    ) -> None:
        order = record["order"]
        order["order_state"] = state
        order["order_state_reason_code"], order["order_state_reason_label"] = reason or (None, None)
        order["last_updated_date"] = iso(at)
        record["updated_ts"] = at
        order["can_shop_ship"] = state == "SHIPPING"
        order["can_cancel"] = state == "SHIPPING"
        for line in order["order_lines"]:
            if line["order_line_state"] in ("CANCELED", "REFUSED") and state not in ("CANCELED", "REFUSED"):
                continue  # a line canceled (OR30) or refused on its own keeps its end state
            line["order_line_state"] = state
            line["order_line_state_reason_code"], line["order_line_state_reason_label"] = reason or (None, None)
            line["last_updated_date"] = iso(at)
            line["can_refund"] = state in ("SHIPPED", "RECEIVED", "CLOSED")
            if state == "SHIPPED":
                line["shipped_date"] = iso(at)

    # ------------------------------------------------------------------------------------------
    # Data generation
    # ------------------------------------------------------------------------------------------

    def create_order(
        self, created_ts: float | None = None, lines: list[tuple[str, int]] | None = None
    ) -> dict[str, Any]:
        """Create one WAITING_ACCEPTANCE order (callers hold the lock); returns its record."""
        generated = self.generator.order()
        if lines:
            for sku, quantity in lines:
                if sku not in PRODUCTS_BY_SKU:
                    raise ValueError(f"unknown SKU {sku!r}")
                if not 1 <= int(quantity) <= 5:
                    raise ValueError("quantity must be 1..5 (Best Buy: max 5 units per item)")
        else:
            lines = [(line.sku, line.quantity) for line in generated.lines]
        created = self.now() if created_ts is None else created_ts
        commercial_id = str(self.next_commercial)
        self.next_commercial += self.generator.random.randint(1, 37)
        order_id = f"{commercial_id}-A"
        province = generated.address["state"]
        taxes = TAXES[province]
        order_lines = [
            order_line_document(order_id, index, sku, quantity, taxes, created)
            for index, (sku, quantity) in enumerate(lines, start=1)
        ]
        notification_email = f"notification+{uuid.UUID(int=self._ids.getrandbits(128)).hex}@notification.mirakl.net"
        order = order_document(order_id, commercial_id, created, order_lines, generated, self.leadtime_to_ship,
                               notification_email)
        record = {
            "order": order,
            "address": generated.address,
            "created_ts": created,
            "updated_ts": created,
            "debit_due": None,
            "fate": None,
            "ship_confirmations": 0,
            "tracking_updates": 0,
        }
        self.orders[order_id] = record
        return record

    def add_customer_message(
        self, order_id: str | None = None, kind: str | None = None, at: float | None = None,
        new_thread: bool | None = None,
    ) -> tuple[str, str]:
        """A customer writes about an order (callers hold the lock); returns (thread_id, message_id)."""
        at = self.now() if at is None else at
        r = self.generator.random
        if order_id is None:
            if not self.orders:
                self.create_order(created_ts=at)
            order_id = r.choice(list(self.orders))
        record = self.orders.get(order_id)
        if record is None:
            raise ValueError(f"no order {order_id!r}")
        customer = record["order"]["customer"]
        message = self.generator.message(order_id, customer["firstname"], kind)
        existing = [t for t in self.threads.values() if t["entities"][0]["id"] == order_id]
        if new_thread is None:
            new_thread = not existing or r.random() < 0.3
        thread = existing[-1] if existing and not new_thread else self._new_thread(record, message.subject, at)
        msg = {
            "id": self._uuid(),
            "body": message.body,
            "date_created": iso(at, millis=True),
            "from": {"type": "CUSTOMER_USER", "display_name": display_name(customer)},
            "to": [{"type": "SHOP", "id": str(self.shop_id), "display_name": self.shop_name}],
            "attachments": [],
        }
        self._append_message(thread, msg, at)
        if thread["metadata"]["shop_reply_needed_since"] is None:
            thread["metadata"]["shop_reply_needed_since"] = msg["date_created"]
        record["order"]["has_customer_message"] = True
        thread["_kind"] = message.kind
        return thread["id"], msg["id"]

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self._ids.getrandbits(128), version=4))

    def _new_thread(self, record: dict[str, Any], subject: str, at: float) -> dict[str, Any]:
        thread = thread_document(self._uuid(), record["order"], self.shop_id, self.shop_name, subject, at)
        self.threads[thread["id"]] = thread
        return thread

    @staticmethod
    def _append_message(thread: dict[str, Any], msg: dict[str, Any], at: float) -> None:
        thread["messages"].append(msg)
        thread["date_updated"] = msg["date_created"]
        thread["_updated_ts"] = at
        thread["metadata"]["last_message_date"] = msg["date_created"]
        thread["metadata"]["last_sender"] = copy.deepcopy(msg["from"])
        thread["metadata"]["total_count"] = len(thread["messages"])

    def _record(self, order_id: str) -> dict[str, Any]:
        record = self.orders.get(order_id)
        if record is None:
            # 404 + ORDER_NOT_FOUND (OR21 documents the code; the status is unconfirmed).
            raise MiraklError(404, f"Order with id {order_id} not found", "ORDER_NOT_FOUND")
        return record

    # ------------------------------------------------------------------------------------------
    # Settings, generation on demand, persistence
    # ------------------------------------------------------------------------------------------

    def settings(self) -> dict[str, Any]:
        return {
            "debit_delay": self.debit_delay,
            "payment_refused_rate": self.payment_refused_rate,
            "cancel_rate": self.cancel_rate,
            "acceptance_timeout": self.acceptance_timeout,
            "partial_acceptance": self.partial_acceptance,
            "order_rate": self.order_rate,
            "message_rate": self.message_rate,
            "update_date_safety": self.update_date_safety,
        }

    def configure(self, **settings: Any) -> None:
        with self.lock:
            for name, value in settings.items():
                if name not in self.settings():
                    raise ValueError(f"unknown setting {name!r}")
                setattr(self, name, type(getattr(self, name))(value))

    def generate_orders(self, count: int, lines: list[tuple[str, int]] | None = None) -> list[str]:
        with self.lock:
            self.settle()
            return [self.create_order(lines=lines)["order"]["order_id"] for _ in range(count)]

    def generate_messages(
        self, count: int, order_id: str | None = None, kind: str | None = None, new_thread: bool | None = None
    ) -> list[tuple[str, str]]:
        with self.lock:
            self.settle()
            return [self.add_customer_message(order_id, kind, new_thread=new_thread) for _ in range(count)]

    def seed_orders(self, count: int) -> list[str]:
        """Start-up orders, created over the last hours (so date filters and sorting mean something)."""
        with self.lock:
            now = self.now()
            ids = []
            for i in range(count):
                created = now - (count - i) * 90.0
                ids.append(self.create_order(created_ts=created)["order"]["order_id"])
            return ids

    def advance(self, seconds: float) -> None:
        with self.lock:
            self.clock_offset += max(0.0, seconds)
            self.settle()

    def forget_all(self) -> None:
        """Forget every order and thread (callers hold the lock); ids keep counting up."""
        self.orders.clear()
        self.threads.clear()
        self._pending_debit.clear()

    def snapshot(self) -> dict:
        with self.lock:
            # A detached copy taken under the lock: the persister serialises it while requests go on.
            return json.loads(json.dumps(self._snapshot_data()))

    def _snapshot_data(self) -> dict[str, Any]:
        return {
            "orders": self.orders,
            "threads": self.threads,
            "next_commercial": self.next_commercial,
            "clock_offset": self.clock_offset,
            "started_at": self.started_at,
            "live_orders_made": self.live_orders_made,
            "live_messages_made": self.live_messages_made,
            "pending_debit": sorted(self._pending_debit),
            "generator": self.generator.getstate(),
            "ids": random_state(self._ids),
        }

    def restore(self, data: dict) -> None:
        with self.lock:
            self._restore_data(data)

    def _restore_data(self, data: dict[str, Any]) -> None:
        self.orders = data["orders"]
        self.threads = data["threads"]
        self.next_commercial = data["next_commercial"]
        self.clock_offset = data["clock_offset"]
        self.started_at = data["started_at"]
        self.live_orders_made = data["live_orders_made"]
        self.live_messages_made = data["live_messages_made"]
        self._pending_debit = set(data["pending_debit"])
        self.generator.setstate(data["generator"])
        set_random_state(self._ids, data["ids"])


def random_state(r: random.Random) -> list[Any]:
    """A ``random.Random``'s state as JSON-able lists (for ``--state`` files)."""
    version, internal, gauss = r.getstate()
    return [version, list(internal), gauss]


def set_random_state(r: random.Random, state: list[Any]) -> None:
    version, internal, gauss = state
    r.setstate((version, tuple(internal), gauss))
