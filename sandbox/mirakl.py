"""Best Buy Canada Marketplace (Mirakl seller API) sandbox service.

Follows ``reference/mirakl-mmp-seller-openapi.json`` and the API sheet for paths, methods, field
names and codes. Where the sources leave a behaviour open the code says "(unconfirmed)" and picks
the behaviour that is harder on a client (a stricter check, an error rather than silence), so a
client that works here does not rely on leniency the real platform may not have.

Time-based behaviour (acceptance -> debit -> SHIPPING, auto-refusal, live order/message rates)
is evaluated lazily at each request against a clock that ``/__admin/advance`` can move forward,
so tests never sleep long.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import math
import random
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from sandbox.catalog import PRODUCTS_BY_SKU
from sandbox.core import (
    HTTPError,
    Request,
    Response,
    Route,
    json_response,
    no_content,
)
from sandbox.generator import Generator
from sandbox.mirakl_aftersale import AftersaleMixin
from sandbox.openapi import OpenAPIValidationError, validate_mirakl

ORDER_STATES = (
    "STAGING", "WAITING_ACCEPTANCE", "WAITING_DEBIT", "WAITING_DEBIT_PAYMENT", "SHIPPING", "SHIPPED",
    "TO_COLLECT", "RECEIVED", "CLOSED", "REFUSED", "CANCELED",
)

# SH21. CPCL = Canada Post, as in two independent Best Buy CA integrations (API sheet §6).
CARRIERS: list[dict[str, str]] = [
    {"code": "CPCL", "label": "Canada Post", "standard_code": "CPCL",
     "tracking_url": "https://www.canadapost-postescanada.ca/track-reperage/en#/search?searchFor={trackingId}"},
    {"code": "PRLA", "label": "Purolator", "standard_code": "PRLA",
     "tracking_url": "https://www.purolator.com/en/shipping/tracker?pin={trackingId}"},
    {"code": "UPSN", "label": "UPS", "standard_code": "UPSN",
     "tracking_url": "https://www.ups.com/track?loc=en_CA&tracknum={trackingId}"},
    {"code": "FEDX", "label": "FedEx", "standard_code": "FEDX",
     "tracking_url": "https://www.fedex.com/fedextrack/?trknbr={trackingId}"},
    {"code": "CPAR", "label": "Canpar", "standard_code": "CPAR",
     "tracking_url": "https://www.canpar.com/en/tracking/delivery_options.htm?barcode={trackingId}"},
]
CARRIERS_BY_CODE = {carrier["code"]: carrier for carrier in CARRIERS}

# Provincial sales tax on a Best Buy CA order (rates of 2024; the sandbox only needs plausible).
_TAXES: dict[str, list[tuple[str, float]]] = {
    "ON": [("HST", 13.0)], "NB": [("HST", 15.0)], "NL": [("HST", 15.0)], "NS": [("HST", 14.0)],
    "PE": [("HST", 15.0)], "QC": [("GST", 5.0), ("QST", 9.975)], "BC": [("GST", 5.0), ("PST", 7.0)],
    "MB": [("GST", 5.0), ("RST", 7.0)], "SK": [("GST", 5.0), ("PST", 6.0)], "AB": [("GST", 5.0)],
    "NT": [("GST", 5.0)], "NU": [("GST", 5.0)], "YT": [("GST", 5.0)],
}

ORDER_ID_LIMIT = 100  # "The limit of 100 is exceeded for the parameter" (sheet §2)
MAX_PAGE = 100  # OR11 max; a hard cap is (unconfirmed): refusing more is the stricter choice
DEFAULT_PAGE = 10
M11_DEFAULT_LIMIT = 50
M11_MAX_LIMIT = 100  # (unconfirmed)
MAX_BODY_CHARS = 50_000
MAX_THREAD_MESSAGES = 1000

# Documented "Maximum usage" (OR11: once per minute for asynchronous polling). Only OR11 polls
# have a documented number. Look-ups by order_ids (acceptance checks) and later pages of a poll
# are separate groups with no default limit, so each can be limited on its own (unconfirmed
# whether Mirakl counts them together).
DEFAULT_LIMITS: dict[str, float] = {"OR11": 1}


def iso(ts: float, millis: bool = False) -> str:
    dt = datetime.fromtimestamp(ts, UTC)
    if millis:
        return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> float:
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    dt = datetime.fromisoformat(value)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)  # Mirakl dates are UTC
    return dt.timestamp()


def mirakl_error(status: int, message: str, code: str | None = None) -> Response:
    """Mirakl's error body (unconfirmed): ``{"message", "status"}``, plus the code twice.

    Where the documented OR21 codes sit in the body is unconfirmed, so the code is both the
    message's prefix and an ``errors[0].code``: a client that looks in either place finds it.
    """
    body: dict[str, Any] = {"message": f"{code}: {message}" if code else message, "status": status}
    if code:
        body["errors"] = [{"code": code, "message": message}]
    return json_response(status, body)


class MiraklError(HTTPError):
    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(status, message, mirakl_error(status, message, code))


def _money(value: float) -> float:
    return round(value + 1e-9, 2)


class MiraklService(AftersaleMixin):
    """The Mirakl half of the sandbox (see module docstring)."""

    name = "mirakl"
    default_limits = DEFAULT_LIMITS

    def __init__(
        self,
        api_key: str = "sandbox-mirakl-key",
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
        return_rate: float = 0.0,
        incident_rate: float = 0.0,
        return_delay: float = 3 * 86400.0,
        incident_delay: float = 2 * 86400.0,
        in_store_return_share: float = 0.2,
        refund_delay: float = 0.0,
    ) -> None:
        self.api_key = api_key
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
        self.orders: dict[str, dict[str, Any]] = {}  # order_id -> record (see _new_order)
        self.threads: dict[str, dict[str, Any]] = {}  # thread_id -> API-shaped thread
        self.next_commercial = 250_000_000 + (seed % 1000) * 10_000
        self.started_at = time.time()
        self.live_orders_made = 0
        self.live_messages_made = 0
        self._pending_debit: set[str] = set()
        self._ids = random.Random(f"ids:{seed}")  # thread/message UUIDs, deterministic for a seed
        self._init_aftersale(return_rate=return_rate, incident_rate=incident_rate, return_delay=return_delay,
                             incident_delay=incident_delay, in_store_return_share=in_store_return_share,
                             refund_delay=refund_delay)

        self._routes: list[tuple[str, tuple[str, ...], str, Callable[..., Response], str | None]] = [
            ("GET", ("api", "orders"), "OR11", self.list_orders, None),
            ("PUT", ("api", "orders", "*", "accept"), "OR21", self.accept_order, "OR21"),
            ("PUT", ("api", "orders", "*", "tracking"), "OR23", self.update_tracking, "OR23"),
            ("PUT", ("api", "orders", "*", "ship"), "OR24", self.ship_order, "OR24"),
            ("PUT", ("api", "orders", "*", "cancel"), "OR29", self.cancel_order, "OR29"),
            ("POST", ("api", "orders", "*", "threads"), "OR43", self.create_order_thread, "OR43"),
            ("GET", ("api", "shipping", "carriers"), "SH21", self.list_carriers, "SH21"),
            ("GET", ("api", "inbox", "threads"), "M11", self.list_threads, "M11"),
            ("GET", ("api", "inbox", "threads", "*"), "M10", self.get_thread, "M10"),
            ("POST", ("api", "inbox", "threads", "*", "message"), "M12", self.reply_thread, "M12"),
            *self.aftersale_routes(),
        ]

    # ------------------------------------------------------------------------------------------
    # Service protocol
    # ------------------------------------------------------------------------------------------

    def now(self) -> float:
        return time.time() + self.clock_offset

    # What the after-sale mixin (sandbox.mirakl_aftersale) borrows from this module.
    def _fail(self, status: int, message: str, code: str | None = None) -> Exception:
        return MiraklError(status, message, code)

    def _json_payload(self, req: Request) -> Any:
        return _json_body(req)

    def _iso(self, ts: float, millis: bool = False) -> str:
        return iso(ts, millis)

    def _parse_iso(self, text: str) -> float:
        return parse_iso(text)

    def route(self, req: Request) -> Route | None:
        segments = tuple(unquote(s) for s in req.path.strip("/").split("/"))
        path_known = False
        for method, pattern, endpoint, handler, group in self._routes:
            if len(pattern) != len(segments):
                continue
            args = []
            for want, got in zip(pattern, segments, strict=True):
                if want == "*":
                    if not got:
                        break
                    args.append(got)
                elif want != got:
                    break
            else:
                if method != req.method:
                    path_known = True
                    continue
                if endpoint == "OR11":
                    group = self._or11_rate_group(req)
                return Route(endpoint, _bind(handler, args), group)
        if path_known:
            return Route("method_not_allowed", lambda _req: mirakl_error(405, "Method Not Allowed"))
        return None

    @staticmethod
    def _or11_rate_group(req: Request) -> str:
        if req.param("order_ids"):
            return "OR11_ids"
        if (req.param("offset") or "0") not in ("", "0"):
            return "OR11_page"  # later pages of one poll
        return "OR11"

    def authenticate(self, req: Request, route: Route) -> Response | None:
        key = req.header("Authorization")
        if not key or key.strip() != self.api_key:
            # The raw key, no "Bearer" (sheet §1): a Bearer-prefixed key is a wrong key.
            return mirakl_error(401, "Unauthorized")
        shop_id = req.param("shop_id")
        if shop_id not in (None, ""):
            try:
                wanted = int(shop_id)
            except ValueError:
                return mirakl_error(400, f"Invalid value for parameter shop_id: {shop_id!r}", "VALIDATION_ERROR")
            if wanted != self.shop_id:
                # A key without access to that shop (unconfirmed: 403 vs 401); a misconfigured
                # connection must fail loudly, not read another shop's orders.
                return mirakl_error(403, f"You do not have access to shop {wanted}")
        return None

    def throttled_response(self, route: Route, retry_after: float) -> Response:
        resp = mirakl_error(429, "Too Many Requests")
        # Seconds as an integer (HTTP delta-seconds), rounded up so waiting that long succeeds.
        resp.headers["Retry-After"] = str(max(1, math.ceil(retry_after)))
        return resp

    def error_response(self, status: int, route: Route) -> Response:
        reasons = {400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 415: "Unsupported Media Type",
                   500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
                   504: "Gateway Timeout"}
        return mirakl_error(status, reasons.get(status, "Error"))

    def malformed(self, resp: Response) -> Response:
        if not resp.body:
            # A body-less answer cannot be truncated: answer 200 with a cut-off JSON instead.
            return Response(200, b'{"status": 20', {"Content-Type": "application/json;charset=UTF-8"})
        return Response(resp.status, resp.body[: max(1, len(resp.body) // 2)], dict(resp.headers))

    # ------------------------------------------------------------------------------------------
    # Clock-driven behaviour
    # ------------------------------------------------------------------------------------------

    def settle(self) -> None:
        """Apply every transition whose time has come (callers hold the lock)."""
        now = self.now()
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
        self.settle_aftersale(now)

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
        taxes = _TAXES[province]

        order_lines = []
        for index, (sku, quantity) in enumerate(lines, start=1):
            product = PRODUCTS_BY_SKU[sku]
            price = _money(product["price"] * quantity)
            commission = _money(price * 0.08)
            line_taxes = [
                {"amount": _money(price * rate / 100), "code": code, "rate": rate,
                 "tax_calculation_rule": "PROPORTIONAL_TO_AMOUNT"}
                for code, rate in taxes
            ]
            order_lines.append({
                "order_line_id": f"{order_id}-{index}",
                "order_line_index": index,
                "order_line_state": "WAITING_ACCEPTANCE",
                "order_line_state_reason_code": None,
                "order_line_state_reason_label": None,
                "offer_id": 3000 + list(PRODUCTS_BY_SKU).index(sku),
                "offer_sku": sku,
                "offer_state_code": "11",  # "New"
                "product_sku": product["product_sku"],
                "product_shop_sku": sku,
                "product_title": product["name"],
                "product_medias": [],
                "category_code": product["category_code"],
                "category_label": product["category_label"],
                "description": None,
                "quantity": quantity,
                "price_unit": product["price"],
                "origin_unit_price": product["price"],
                "price": price,
                "price_additional_info": None,
                "shipping_price": 0.0,
                "shipping_taxes": [],
                "taxes": line_taxes,
                "total_price": price,
                "commission_fee": commission,
                "commission_rate_vat": 13.0,
                "commission_vat": _money(commission * 0.13),
                "commission_taxes": [{"amount": _money(commission * 0.13), "code": "HST", "rate": 13.0}],
                "total_commission": _money(commission * 1.13),
                "can_refund": False,
                "cancelations": [],
                "refunds": [],
                "fees": [],
                "promotions": [],
                "order_line_additional_fields": [],
                "created_date": iso(created),
                "last_updated_date": iso(created),
                "debited_date": None,
                "shipped_date": None,
                "received_date": None,
            })
        price = _money(sum(line["price"] for line in order_lines))
        total_commission = _money(sum(line["total_commission"] for line in order_lines))
        deadline = datetime.fromtimestamp(created + self.leadtime_to_ship * 86400, UTC)
        customer = dict(generated.customer)
        customer.update({"civility": None, "shipping_address": None, "billing_address": None})
        order = {
            "order_id": order_id,
            "commercial_id": commercial_id,
            "order_state": "WAITING_ACCEPTANCE",
            "order_state_reason_code": None,
            "order_state_reason_label": None,
            "created_date": iso(created),
            "last_updated_date": iso(created),
            "acceptance_decision_date": None,
            "customer_debited_date": None,
            "shipping_deadline": deadline.strftime("%Y-%m-%dT23:59:59.999Z"),
            "leadtime_to_ship": self.leadtime_to_ship,
            "can_cancel": False,
            "can_shop_ship": False,
            "has_customer_message": False,
            "has_incident": False,
            "has_invoice": False,
            "fully_refunded": False,
            "customer": customer,
            "customer_notification_email": f"notification+{uuid.UUID(int=self._ids.getrandbits(128)).hex}"
                                           "@notification.mirakl.net",
            "channel": {"code": "BBCA", "label": "Best Buy Canada"},
            "currency_iso_code": "CAD",
            "order_tax_mode": "TAX_EXCLUDED",
            "order_taxes": [],
            "payment_type": "Credit card",
            "paymentType": "Credit card",  # required by the OpenAPI though deprecated
            "payment_workflow": "PAY_ON_ACCEPTANCE",
            "price": price,
            "shipping_price": 0.0,
            "total_price": price,
            "total_commission": total_commission,
            "shipping_type_code": generated.shipping_type_code,
            "shipping_type_label": generated.shipping_type_label,
            "shipping_zone_code": "CA",
            "shipping_zone_label": "Canada",
            "shipping_carrier_code": None,
            "shipping_carrier_standard_code": None,
            "shipping_company": None,
            "shipping_tracking": None,
            "shipping_tracking_url": None,
            "shipping_pudo_id": None,
            "fulfillment": {"center": {"code": "DEFAULT"}},
            "references": {"order_reference_for_customer": None, "order_reference_for_seller": None},
            "promotions": {"applied_promotions": [], "total_deduced_amount": 0},
            "order_additional_fields": [],
            "quote_id": None,
            "delivery_date": None,
            "order_lines": order_lines,
        }
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
            "from": {"type": "CUSTOMER_USER", "display_name": _display_name(customer)},
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
        order = record["order"]
        customer = order["customer"]
        participants = [
            {"type": "SHOP", "id": str(self.shop_id), "display_name": self.shop_name},
            {"type": "CUSTOMER", "id": customer["customer_id"], "display_name": _display_name(customer)},
        ]
        thread = {
            "id": self._uuid(),
            "topic": {"type": "FREE_TEXT", "value": subject},
            "entities": [{"id": order["order_id"], "type": "MMP_ORDER", "label": order["commercial_id"]}],
            "authorized_participants": [
                *participants, {"type": "OPERATOR", "display_name": "Best Buy Marketplace"}
            ],
            "current_participants": copy.deepcopy(participants),
            "date_created": iso(at, millis=True),
            "date_updated": iso(at, millis=True),
            "metadata": {"last_message_date": None, "last_sender": None, "shop_reply_needed_since": None,
                         "total_count": 0},
            "no_store_reply_needed": [],
            "messages": [],
            "_updated_ts": at,
        }
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

    # ------------------------------------------------------------------------------------------
    # OR11
    # ------------------------------------------------------------------------------------------

    def list_orders(self, req: Request) -> Response:
        order_ids = _csv(req, "order_ids")
        if order_ids is not None and len(order_ids) > ORDER_ID_LIMIT:
            raise MiraklError(400, f"The limit of {ORDER_ID_LIMIT} is exceeded for the parameter : order_ids")
        states = _csv(req, "order_state_codes")
        for state in states or []:
            if state not in ORDER_STATES:
                raise MiraklError(400, f"Invalid value for parameter order_state_codes: {state}", "VALIDATION_ERROR")
        bounds = {name: _date_param(req, name) for name in
                  ("start_date", "end_date", "start_update_date", "end_update_date")}
        if bounds["start_update_date"] is not None:
            # Mirakl subtracts a safety delta so nothing is missed (OpenAPI): callers must dedupe.
            bounds["start_update_date"] -= self.update_date_safety
        customer_debited = _bool_param(req, "customer_debited")
        paginate = _bool_param(req, "paginate")
        paginate = True if paginate is None else paginate
        max_items = _int_param(req, "max", DEFAULT_PAGE)
        offset = _int_param(req, "offset", 0)
        if not 1 <= max_items <= MAX_PAGE:
            raise MiraklError(400, f"Invalid value for parameter max: must be between 1 and {MAX_PAGE}",
                              "VALIDATION_ERROR")
        if offset < 0:
            raise MiraklError(400, "Invalid value for parameter offset", "VALIDATION_ERROR")
        sort = req.param("sort") or "dateCreated"
        if sort != "dateCreated":
            raise MiraklError(400, f"Invalid sort field: {sort}", "VALIDATION_ERROR")
        descending = (req.param("order") or "asc").lower() == "desc"

        with self.lock:
            self.settle()
            wanted = set(order_ids) if order_ids is not None else None
            selected = []
            for order_id, record in self.orders.items():
                order = record["order"]
                if wanted is not None and order_id not in wanted:
                    continue
                if states and order["order_state"] not in states:
                    continue
                if not _in_range(record["created_ts"], bounds["start_date"], bounds["end_date"]):
                    continue
                if not _in_range(record["updated_ts"], bounds["start_update_date"], bounds["end_update_date"]):
                    continue
                if customer_debited is not None and (order["customer_debited_date"] is not None) != customer_debited:
                    continue
                selected.append(record)
            selected.sort(key=lambda rec: (rec["created_ts"], rec["order"]["order_id"]), reverse=descending)
            page = selected[offset: offset + max_items] if paginate else selected
            body = {"orders": [rec["order"] for rec in page], "total_count": len(selected)}
            return json_response(200, body)

    # ------------------------------------------------------------------------------------------
    # OR21 / OR23 / OR24 / OR29
    # ------------------------------------------------------------------------------------------

    def _record(self, order_id: str) -> dict[str, Any]:
        record = self.orders.get(order_id)
        if record is None:
            # 404 + ORDER_NOT_FOUND (OR21 documents the code; the status is unconfirmed).
            raise MiraklError(404, f"Order with id {order_id} not found", "ORDER_NOT_FOUND")
        return record

    def accept_order(self, req: Request, order_id: str) -> Response:
        payload = _json_body(req)
        with self.lock:
            self.settle()
            record = self._record(order_id)
            order = record["order"]
            if not isinstance(payload, dict) or not isinstance(payload.get("order_lines"), list):
                raise MiraklError(400, "order_lines is required", "VALIDATION_ERROR")
            decisions = payload["order_lines"]
            if any(item is None for item in decisions):
                raise MiraklError(400, "The order lines list contains a null element", "ORDER_LINE_NULL_ELEMENT")
            for item in decisions:
                if (not isinstance(item, dict) or not isinstance(item.get("id"), str)
                        or not isinstance(item.get("accepted"), bool)):
                    raise MiraklError(400, "each order line needs an id (string) and accepted (boolean)",
                                      "VALIDATION_ERROR")
            if order["order_state"] != "WAITING_ACCEPTANCE":
                raise MiraklError(400, f"Order {order_id} is in state {order['order_state']}, "
                                       "expected WAITING_ACCEPTANCE", "ORDER_INVALID_STATE")
            ids = [item["id"] for item in decisions]
            if len(set(ids)) != len(ids):
                raise MiraklError(400, "The order lines list contains duplicate order line IDs",
                                  "ORDER_LINE_DUPLICATE_ID")
            line_ids = {line["order_line_id"] for line in order["order_lines"]}
            unknown = [line_id for line_id in ids if line_id not in line_ids]
            if unknown:
                raise MiraklError(400, f"Order line {unknown[0]} does not exist or is not associated with "
                                       f"order {order_id}", "ORDER_LINE_NOT_FOUND")
            if set(ids) != line_ids:
                raise MiraklError(400, "Some order lines are missing from the acceptance decision",
                                  "ORDER_LINE_ACCEPTANCE_DECISION_MISSING")
            accepted = {item["accepted"] for item in decisions}
            if len(accepted) > 1 and not self.partial_acceptance:
                # Partial acceptance is off unless configured (Best Buy CA setting unconfirmed).
                raise MiraklError(400, "Partial acceptance is disabled for this shop",
                                  "ORDER_PARTIAL_ACCEPTANCE_DISABLED")
            now = self.now()
            order["acceptance_decision_date"] = iso(now)
            if accepted == {False}:
                self._set_state(record, "REFUSED", now)
                return no_content()
            self._set_state(record, "WAITING_DEBIT_PAYMENT", now)
            if len(accepted) > 1:
                # Refused lines of a partially accepted order end REFUSED at once.
                by_id = {item["id"]: item["accepted"] for item in decisions}
                for line in order["order_lines"]:
                    if not by_id[line["order_line_id"]]:
                        line["order_line_state"] = "REFUSED"
            record["debit_due"] = now + self.debit_delay
            record["fate"] = self._fate(order_id)
            self._pending_debit.add(order_id)
            if self.debit_delay <= 0:
                self.settle()
            return no_content()

    def update_tracking(self, req: Request, order_id: str) -> Response:
        payload = _json_body(req)
        if not isinstance(payload, dict):
            raise MiraklError(400, "a JSON object is required", "VALIDATION_ERROR")
        try:
            validate_mirakl("/api/orders/{order_id}/tracking", "PUT", 204, payload, kind="request")
        except OpenAPIValidationError as exc:
            raise MiraklError(400, "; ".join(exc.errors), "VALIDATION_ERROR") from exc
        tracking_number = payload.get("tracking_number")
        if not tracking_number:
            # The schema requires nothing, but tracking without a number is meaningless; refuse.
            raise MiraklError(400, "tracking_number is required", "VALIDATION_ERROR")
        carrier_code = payload.get("carrier_code")
        with self.lock:
            self.settle()
            record = self._record(order_id)
            order = record["order"]
            if order["order_state"] not in ("SHIPPING", "SHIPPED"):
                # (unconfirmed) which states accept OR23; before the debit there is nothing to ship.
                raise MiraklError(400, f"Order {order_id} is in state {order['order_state']}, tracking can "
                                       "only be set on SHIPPING or SHIPPED orders", "ORDER_INVALID_STATE")
            if carrier_code:
                carrier = CARRIERS_BY_CODE.get(carrier_code)
                if carrier is None:
                    raise MiraklError(400, f"Carrier {carrier_code} is unknown (see SH21)", "CARRIER_NOT_FOUND")
                order["shipping_carrier_code"] = carrier["code"]
                order["shipping_carrier_standard_code"] = carrier["standard_code"]
                order["shipping_company"] = carrier["label"]
                order["shipping_tracking_url"] = carrier["tracking_url"].replace("{trackingId}", tracking_number)
            else:
                if not payload.get("carrier_name"):
                    raise MiraklError(400, "carrier_code or carrier_name is required", "VALIDATION_ERROR")
                order["shipping_carrier_code"] = None
                order["shipping_carrier_standard_code"] = payload.get("carrier_standard_code")
                order["shipping_company"] = payload["carrier_name"]
                order["shipping_tracking_url"] = payload.get("carrier_url")
            order["shipping_tracking"] = tracking_number
            record["tracking_updates"] += 1
            now = self.now()
            order["last_updated_date"] = iso(now)
            record["updated_ts"] = now
            return no_content()

    def ship_order(self, req: Request, order_id: str) -> Response:
        _require_length(req)
        with self.lock:
            self.settle()
            record = self._record(order_id)
            order = record["order"]
            if order["order_state"] != "SHIPPING":
                raise MiraklError(400, f"Order {order_id} is in state {order['order_state']}, expected SHIPPING",
                                  "ORDER_INVALID_STATE")
            if not order["shipping_tracking"]:
                # Best Buy: tracking must be entered before confirming shipment (sheet §8); the
                # real check and its code are (unconfirmed): refuse, which is the strict choice.
                raise MiraklError(400, "Tracking information must be set (OR23) before the shipment is "
                                       "confirmed", "ORDER_TRACKING_MISSING")
            self._set_state(record, "SHIPPED", self.now())
            record["ship_confirmations"] += 1
            return no_content()

    def cancel_order(self, req: Request, order_id: str) -> Response:
        _require_length(req)
        with self.lock:
            self.settle()
            record = self._record(order_id)
            order = record["order"]
            if not order["can_cancel"]:
                # (unconfirmed) the shop may cancel paid, unshipped orders only (can_cancel).
                raise MiraklError(400, f"Order {order_id} cannot be canceled in state {order['order_state']}",
                                  "ORDER_INVALID_STATE")
            self.cancel_whole_order(record)
            return no_content()

    # ------------------------------------------------------------------------------------------
    # SH21
    # ------------------------------------------------------------------------------------------

    def list_carriers(self, req: Request) -> Response:
        return json_response(200, {"carriers": CARRIERS})

    # ------------------------------------------------------------------------------------------
    # Inbox: M11, M10, M12, OR43
    # ------------------------------------------------------------------------------------------

    def _thread_view(self, thread: dict[str, Any], with_messages: bool, last: int | None = None) -> dict:
        view = {k: v for k, v in thread.items() if not k.startswith("_") and k != "messages"}
        if with_messages:
            messages = thread["messages"]
            view["messages"] = messages[-last:] if last else messages
        return view

    def list_threads(self, req: Request) -> Response:
        entity_type = req.param("entity_type")
        entity_ids = _csv(req, "entity_id")
        if entity_ids is not None and not entity_type:
            raise MiraklError(400, "entity_type must be specified to filter on entity_id", "VALIDATION_ERROR")
        updated_since = _date_param(req, "updated_since")
        with_messages = bool(_bool_param(req, "with_messages"))
        limit = _int_param(req, "limit", M11_DEFAULT_LIMIT)
        if not 1 <= limit <= M11_MAX_LIMIT:
            raise MiraklError(400, f"Invalid value for parameter limit: must be between 1 and {M11_MAX_LIMIT}",
                              "VALIDATION_ERROR")
        token = _decode_token(req.param("page_token"))
        with self.lock:
            self.settle()
            selected = []
            for thread in self.threads.values():
                entity = thread["entities"][0]
                if entity_type and entity["type"] != entity_type:
                    continue
                if entity_ids is not None and entity["id"] not in entity_ids:
                    continue
                if updated_since is not None and thread["_updated_ts"] < updated_since:
                    continue
                selected.append(thread)
            # Default sort: date updated, newest first (sheet §2), id as the tie-breaker.
            selected.sort(key=lambda t: (t["_updated_ts"], t["id"]), reverse=True)
            keys = [(t["_updated_ts"], t["id"]) for t in selected]
            if token is None:
                start = 0
            elif token["dir"] == "next":
                start = next((i for i, key in enumerate(keys) if key < token["key"]), len(keys))
            else:
                end = next((i for i, key in enumerate(keys) if key <= token["key"]), len(keys))
                start = max(0, end - limit)
            page = selected[start: start + limit]
            body: dict[str, Any] = {
                "data": [self._thread_view(t, with_messages, last=100) for t in page],
            }
            if page and start + limit < len(selected):
                body["next_page_token"] = _encode_token("next", keys[start + len(page) - 1])
            if page and start > 0:
                body["previous_page_token"] = _encode_token("prev", keys[start])
            return json_response(200, body)

    def get_thread(self, req: Request, thread_id: str) -> Response:
        with self.lock:
            self.settle()
            thread = self.threads.get(thread_id)
            if thread is None:
                raise MiraklError(404, f"Thread {thread_id} not found", "THREAD_NOT_FOUND")
            return json_response(200, self._thread_view(thread, with_messages=True))

    def reply_thread(self, req: Request, thread_id: str) -> Response:
        message_input = _multipart_json(req, "message_input")
        try:
            validate_mirakl("/api/inbox/threads/{thread_id}/message", "POST", 201,
                            {"message_input": message_input}, kind="request")
        except OpenAPIValidationError as exc:
            raise MiraklError(400, "; ".join(exc.errors), "VALIDATION_ERROR") from exc
        recipients = message_input.get("to") or []
        with self.lock:
            self.settle()
            thread = self.threads.get(thread_id)
            if thread is None:
                raise MiraklError(404, f"Thread {thread_id} not found", "THREAD_NOT_FOUND")
            if len(thread["messages"]) >= MAX_THREAD_MESSAGES:
                raise MiraklError(400, f"A thread holds at most {MAX_THREAD_MESSAGES} messages", "VALIDATION_ERROR")
            to = []
            for recipient in recipients:
                kind, rid = recipient.get("type"), recipient.get("id")
                match = [p for p in thread["authorized_participants"]
                         if p["type"] == kind and (rid is None or p.get("id") == rid)]
                if kind == "SHOP" or not match:
                    # (unconfirmed) wording; a reply to someone outside the thread is refused.
                    raise MiraklError(400, f"Recipient {kind} {rid} is not a participant of thread {thread_id}",
                                      "VALIDATION_ERROR")
                to.append(copy.deepcopy(match[0]))
            if not to:
                raise MiraklError(400, "at least one recipient is required", "VALIDATION_ERROR")
            topic = message_input.get("topic")
            if isinstance(topic, dict) and topic.get("value"):
                thread["topic"] = {"type": topic.get("type") or "FREE_TEXT", "value": topic["value"]}
            msg_id = self._post_shop_message(thread, message_input["body"], to)
            return json_response(201, {"thread_id": thread_id, "message_id": msg_id})

    def _post_shop_message(self, thread: dict[str, Any], body: str, to: list[dict[str, Any]]) -> str:
        now = self.now()
        msg = {
            "id": self._uuid(),
            "body": body,
            "date_created": iso(now, millis=True),
            "from": {"type": "SHOP_USER", "display_name": "Orderflow",
                     "organization_details": {"type": "SHOP", "id": str(self.shop_id),
                                              "display_name": self.shop_name}},
            "to": to,
            "attachments": [],
        }
        self._append_message(thread, msg, now)
        thread["metadata"]["shop_reply_needed_since"] = None  # the shop has answered
        return msg["id"]

    def create_order_thread(self, req: Request, order_id: str) -> Response:
        thread_input = _multipart_json(req, "thread_input")
        try:
            validate_mirakl("/api/orders/{order_id}/threads", "POST", 201, {"thread_input": thread_input},
                            kind="request")
        except OpenAPIValidationError as exc:
            raise MiraklError(400, "; ".join(exc.errors), "VALIDATION_ERROR") from exc
        recipients = thread_input.get("to") or []
        if not recipients or any(r not in ("CUSTOMER", "OPERATOR") for r in recipients):
            raise MiraklError(400, "to must list CUSTOMER and/or OPERATOR", "VALIDATION_ERROR")
        topic = thread_input.get("topic") or {}
        if topic.get("type") not in ("FREE_TEXT", "REASON_CODE") or not topic.get("value"):
            raise MiraklError(400, "topic needs a type (FREE_TEXT or REASON_CODE) and a value", "VALIDATION_ERROR")
        with self.lock:
            self.settle()
            record = self._record(order_id)
            now = self.now()
            thread = self._new_thread(record, topic["value"], now)
            thread["topic"] = {"type": topic["type"], "value": topic["value"]}
            to = [copy.deepcopy(p) for p in thread["authorized_participants"] if p["type"] in recipients]
            msg_id = self._post_shop_message(thread, thread_input["body"], to)
            return json_response(201, {"thread_id": thread["id"], "message_id": msg_id})

    # ------------------------------------------------------------------------------------------
    # Admin, inspection, persistence
    # ------------------------------------------------------------------------------------------

    def inspect(self) -> dict:
        with self.lock:
            self.settle()
            states: dict[str, int] = {}
            for record in self.orders.values():
                state = record["order"]["order_state"]
                states[state] = states.get(state, 0) + 1
            return {
                "orders": {
                    order_id: {
                        "state": rec["order"]["order_state"],
                        "reason": rec["order"]["order_state_reason_code"],
                        "tracking": rec["order"]["shipping_tracking"],
                        "carrier_code": rec["order"]["shipping_carrier_code"],
                        "ship_confirmations": rec["ship_confirmations"],
                        "tracking_updates": rec["tracking_updates"],
                        "lines": len(rec["order"]["order_lines"]),
                    }
                    for order_id, rec in self.orders.items()
                },
                "orders_by_state": states,
                "threads": {
                    thread_id: {
                        "order_id": t["entities"][0]["id"],
                        "messages": len(t["messages"]),
                        "shop_reply_needed_since": t["metadata"]["shop_reply_needed_since"],
                        "last_sender": (t["metadata"]["last_sender"] or {}).get("type"),
                    }
                    for thread_id, t in self.threads.items()
                },
                "clock_offset": self.clock_offset,
                "settings": self.settings(),
                **self.aftersale_inspect(),
            }

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
            **self.aftersale_settings(),
        }

    def admin(self, req: Request, action: str) -> Response | None:
        if req.method != "POST":
            if req.method == "GET" and action == "settings":
                return json_response(200, self.settings())
            return None
        payload = req.json() if req.body else {}
        if not isinstance(payload, dict):
            raise ValueError("expected a JSON object")
        if action == "orders":
            lines = payload.get("lines")
            parsed = [(item["sku"], int(item.get("quantity", 1))) for item in lines] if lines else None
            ids = self.generate_orders(int(payload.get("count", 1)), lines=parsed)
            return json_response(200, {"order_ids": ids})
        if action == "messages":
            made = self.generate_messages(
                int(payload.get("count", 1)), order_id=payload.get("order_id"), kind=payload.get("kind"),
                new_thread=payload.get("new_thread"),
            )
            return json_response(200, {"messages": [{"thread_id": t, "message_id": m} for t, m in made]})
        if action == "advance":
            self.advance(float(payload.get("seconds", 0)))
            return json_response(200, {"clock_offset": self.clock_offset, "now": iso(self.now(), millis=True)})
        if action == "settings":
            self.configure(**payload)
            return json_response(200, self.settings())
        if action == "clear":
            # Forget every order, thread and return (tests reusing one server between examples);
            # ids keep counting up, so an order id is never reused.
            with self.lock:
                self.orders.clear()
                self.threads.clear()
                self._pending_debit.clear()
                self.returns.clear()
            return json_response(200, {"cleared": True})
        if action == "cancel":
            # An operator- or customer-side cancellation (what a seller cannot trigger with OR29).
            with self.lock:
                self.settle()
                record = self._record(str(payload["order_id"]))
                reason = payload.get("reason", "CUSTOMER_CANCELED")
                self._pending_debit.discard(record["order"]["order_id"])
                self._set_state(record, "CANCELED", self.now(), (reason, reason.replace("_", " ").capitalize()))
            return json_response(200, {"order_id": payload["order_id"], "state": "CANCELED"})
        return self.aftersale_admin(action, payload)

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

    def snapshot(self) -> dict:
        with self.lock:
            # A detached copy taken under the lock: the persister serialises it while requests go on.
            return json.loads(json.dumps({
                "orders": self.orders,
                "threads": self.threads,
                "next_commercial": self.next_commercial,
                "clock_offset": self.clock_offset,
                "started_at": self.started_at,
                "live_orders_made": self.live_orders_made,
                "live_messages_made": self.live_messages_made,
                "pending_debit": sorted(self._pending_debit),
                "generator": self.generator.getstate(),
                "ids": _random_state(self._ids),
                **self.aftersale_snapshot(),
            }))

    def restore(self, data: dict) -> None:
        with self.lock:
            self.orders = data["orders"]
            self.threads = data["threads"]
            self.next_commercial = data["next_commercial"]
            self.clock_offset = data["clock_offset"]
            self.started_at = data["started_at"]
            self.live_orders_made = data["live_orders_made"]
            self.live_messages_made = data["live_messages_made"]
            self._pending_debit = set(data["pending_debit"])
            self.generator.setstate(data["generator"])
            _set_random_state(self._ids, data["ids"])
            self.aftersale_restore(data)


# ----------------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------------


def _bind(handler: Callable[..., Response], args: list[str]) -> Callable[[Request], Response]:
    return lambda req: handler(req, *args)


def _display_name(customer: dict[str, Any]) -> str:
    return f"{customer['firstname']} {customer['lastname'][:1]}."


def _csv(req: Request, name: str) -> list[str] | None:
    values = req.query.get(name)
    if values is None:
        return None
    items = [item.strip() for value in values for item in value.split(",") if item.strip()]
    return items


def _date_param(req: Request, name: str) -> float | None:
    value = req.param(name)
    if value in (None, ""):
        return None
    try:
        return parse_iso(value)
    except ValueError:
        raise MiraklError(400, f"Invalid date for parameter {name}: {value!r} (expected ISO 8601)",
                          "VALIDATION_ERROR") from None


def _bool_param(req: Request, name: str) -> bool | None:
    value = req.param(name)
    if value in (None, ""):
        return None
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise MiraklError(400, f"Invalid boolean for parameter {name}: {value!r}", "VALIDATION_ERROR")


def _int_param(req: Request, name: str, default: int) -> int:
    value = req.param(name)
    if value in (None, ""):
        return default
    try:
        return int(value)
    except ValueError:
        raise MiraklError(400, f"Invalid integer for parameter {name}: {value!r}", "VALIDATION_ERROR") from None


def _in_range(ts: float, start: float | None, end: float | None) -> bool:
    return (start is None or ts >= start) and (end is None or ts <= end)


def _require_length(req: Request) -> None:
    # A PUT without Content-Length gets 411 from the real front end (sheet §3, OR24 quirk).
    if req.header("Content-Length") is None and req.header("Transfer-Encoding") is None:
        raise MiraklError(411, "Length Required")


def _json_body(req: Request) -> Any:
    _require_length(req)
    content_type = (req.header("Content-Type") or "").lower()
    if not content_type.startswith("application/json"):
        raise MiraklError(415, f"Content-Type must be application/json, got {content_type or 'none'!r}")
    try:
        return json.loads(req.body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MiraklError(400, f"Malformed JSON body: {exc}", "VALIDATION_ERROR") from exc


def _multipart_json(req: Request, part_name: str) -> dict[str, Any]:
    content_type = (req.header("Content-Type") or "").lower()
    if not content_type.startswith("multipart/form-data"):
        raise MiraklError(415, f"Content-Type must be multipart/form-data, got {content_type or 'none'!r}")
    try:
        parts = req.multipart()
    except HTTPError as exc:
        raise MiraklError(400, exc.message, "VALIDATION_ERROR") from exc
    if part_name not in parts:
        raise MiraklError(400, f"Missing part {part_name!r}", "VALIDATION_ERROR")
    try:
        value = json.loads(parts[part_name][0].text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MiraklError(400, f"Part {part_name!r} is not valid JSON: {exc}", "VALIDATION_ERROR") from exc
    if not isinstance(value, dict):
        raise MiraklError(400, f"Part {part_name!r} must be a JSON object", "VALIDATION_ERROR")
    body = value.get("body")
    if isinstance(body, str) and len(body) > MAX_BODY_CHARS:
        raise MiraklError(400, f"body exceeds {MAX_BODY_CHARS} characters", "VALIDATION_ERROR")
    return value


def _encode_token(direction: str, key: tuple[float, str]) -> str:
    raw = json.dumps({"dir": direction, "ts": key[0], "id": key[1]}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_token(token: str | None) -> dict[str, Any] | None:
    if not token:
        return None
    try:
        padded = token + "=" * (-len(token) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        return {"dir": data["dir"], "key": (float(data["ts"]), str(data["id"]))}
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise MiraklError(400, "Invalid page_token", "VALIDATION_ERROR") from None


def _random_state(r: random.Random) -> list[Any]:
    version, internal, gauss = r.getstate()
    return [version, list(internal), gauss]


def _set_random_state(r: random.Random, state: list[Any]) -> None:
    version, internal, gauss = state
    r.setstate((version, tuple(internal), gauss))
