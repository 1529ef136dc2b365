"""Orders and their lines (from Best Buy), the status history and the order events."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import psycopg2
from psycopg2.extras import RealDictCursor

from orderflow import lifecycle
from orderflow.hooks.mirakl_records import OrderLineRecord, OrderRecord
from orderflow.store.base import Row, StoreBase, jsonb

# Best Buy asks sellers to accept or refuse every new order within 24 hours.
ACCEPTANCE_WINDOW = timedelta(hours=24)


class StaleStatus(RuntimeError):
    """The order is no longer in the status the caller worked from; nothing was written."""

    def __init__(self, order_id: str, expected: str | Sequence[str | None], actual: str | None) -> None:
        self.order_id = order_id
        self.expected = expected
        self.actual = actual
        super().__init__(f"order {order_id}: expected status {expected}, found {actual}")


@dataclass(frozen=True)
class UpsertedOrder:
    order_id: str
    inserted: bool
    current_status: str | None
    mirakl_state: str | None


@dataclass(frozen=True)
class Transition:
    order_id: str
    to_status: str
    detail: Mapping[str, Any] = field(default_factory=dict)
    # None inside the tuple: an order with no status yet (ingest's first row).
    expected_from: str | tuple[str | None, ...] | None = None


def _order_row(order: OrderRecord) -> tuple[Any, ...]:
    """One `orders` row (VALUES order of upsert_orders.sql)."""
    address = order.shipping_address
    return (
        order.order_id,
        order.commercial_id,
        order.mirakl_state,
        order.created_at,
        order.last_updated_at,
        order.created_at + ACCEPTANCE_WINDOW,
        order.shipping_deadline,
        order.leadtime_to_ship,
        order.customer_id,
        order.customer_firstname,
        order.customer_lastname,
        jsonb(dict(address)) if address else None,
        order.shipping_city,
        order.shipping_state,
        order.shipping_zip,
        order.shipping_country,
        order.price,
        order.shipping_price,
        order.total_price,
        order.currency,
        jsonb(dict(order.raw)),
    )


def _line_row(line: OrderLineRecord) -> tuple[Any, ...]:
    """One `order_lines` row (VALUES order of upsert_order_lines.sql)."""
    return (
        line.order_line_id,
        line.order_id,
        line.line_index,
        line.offer_sku,
        line.product_sku,
        line.product_title,
        line.quantity,
        line.price_unit,
        line.price,
        line.shipping_price,
        line.total_price,
        line.state,
        jsonb(dict(line.raw)),
    )


class OrdersMixin(StoreBase):
    # -- orders ---------------------------------------------------------------------------
    def upsert_orders(self, orders: Sequence[OrderRecord]) -> list[UpsertedOrder]:
        """Insert or refresh orders and their lines, in one transaction.

        Takes ``OrderRecord``s only: callers parse Best Buy's OR11 payloads once with
        ``orderflow.hooks.mirakl_records.order_from_payload`` (which refuses a malformed one with
        ``MalformedOrder``, before anything reaches the store) and decide what a refusal means.
        """
        if not orders:
            return []
        for order in orders:
            if not isinstance(order, OrderRecord):
                raise TypeError(
                    f"upsert_orders takes OrderRecords, not {type(order).__name__}: parse OR11 payloads "
                    "with orderflow.hooks.mirakl_records.order_from_payload first"
                )
        order_rows = [_order_row(r) for r in orders]
        line_rows = [_line_row(line) for r in orders for line in r.lines]
        with self.transaction() as cur:
            result = self.execute_values(cur, "upsert_orders", order_rows, fetch=True)
            if line_rows:
                self.execute_values(cur, "upsert_order_lines", line_rows)
        return [
            UpsertedOrder(r["order_id"], r["inserted"], r["current_status"], r["mirakl_state"])
            for r in result
        ]

    def get_order(self, order_id: str) -> Row | None:
        with self.transaction() as cur:
            self.run(cur, "get_order", {"order_id": order_id})
            order = cur.fetchone()
            if order is None:
                return None
            self.run(cur, "get_order_lines", {"order_id": order_id})
            result = dict(order)
            result["lines"] = [dict(r) for r in cur.fetchall()]
            return result

    def get_orders(self, order_ids: Sequence[str]) -> dict[str, Row]:
        """Orders with their lines, keyed by id (one round trip per table)."""
        if not order_ids:
            return {}
        with self.transaction() as cur:
            self.run(cur, "get_orders", {"order_ids": list(order_ids)})
            orders = {r["order_id"]: dict(r) | {"lines": []} for r in cur.fetchall()}
            self.run(cur, "get_order_lines_many", {"order_ids": list(order_ids)})
            for line in cur.fetchall():
                orders[line["order_id"]]["lines"].append(dict(line))
        return orders

    def current_status(self, order_id: str) -> str | None:
        row = self.fetch_one("get_order", {"order_id": order_id})
        return row["current_status"] if row else None

    def orders_in_status(self, status: str, *, batch_size: int = 500) -> Iterator[list[str]]:
        """Yield batches of order ids whose current status is `status` (no claim taken)."""
        after: str | None = None
        while True:
            rows = self.fetch_all("orders_in_status", {"status": status, "after": after, "limit": batch_size})
            if not rows:
                return
            yield [r["order_id"] for r in rows]
            after = rows[-1]["order_id"]

    def status_counts(self) -> dict[str | None, int]:
        return {r["status"]: r["orders"] for r in self.fetch_all("status_counts")}

    def find_order_by_code(self, code: str) -> str | None:
        """An order id, commercial id or tracking PIN -> the order id (None if unknown or ambiguous)."""
        rows = self.fetch_all("find_order_by_code", {"code": code.strip()})
        return rows[0]["order_id"] if len(rows) == 1 else None

    # -- status history -------------------------------------------------------------------
    def record_transition(
        self,
        order_id: str,
        to_status: str,
        *,
        detail: Mapping[str, Any] | None = None,
        run_id: str | None = None,
        actor: str | None = None,
        expected_from: str | Sequence[str | None] | None = None,
        release_owner: str | None = None,
    ) -> Row:
        """Append one history row after checking the status machine; returns the new row."""
        with self.transaction() as cur:
            return self._transition(
                cur, Transition(order_id, to_status, detail or {}, _tuple(expected_from)),
                run_id=run_id, actor=actor, release_owner=release_owner,
            )

    def record_transitions(
        self,
        transitions: Sequence[Transition],
        *,
        run_id: str | None = None,
        actor: str | None = None,
        release_owner: str | None = None,
    ) -> list[Row]:
        """Several transitions in one transaction: all are written or none."""
        with self.transaction() as cur:
            return [
                self._transition(cur, t, run_id=run_id, actor=actor, release_owner=release_owner)
                for t in transitions
            ]

    def _transition(
        self, cur: RealDictCursor, t: Transition, *, run_id: str | None, actor: str | None, release_owner: str | None
    ) -> Row:
        self.run(cur, "lock_order_status", {"order_id": t.order_id})
        row = cur.fetchone()
        if row is None:
            raise KeyError(f"unknown order {t.order_id}")
        current = row["current_status"]
        expected = _tuple(t.expected_from)
        if expected is not None and current not in expected:
            raise StaleStatus(t.order_id, expected, current)
        lifecycle.check(t.order_id, current, t.to_status)
        try:
            self.run(
                cur,
                "insert_history",
                {
                    "order_id": t.order_id,
                    "status": t.to_status,
                    "run_id": run_id,
                    "actor": actor,
                    "detail": jsonb(dict(t.detail)),
                },
            )
        except psycopg2.errors.CheckViolation as exc:  # the database's copy of the machine said no
            raise lifecycle.TransitionRefused(t.order_id, current, t.to_status) from exc
        inserted = self.returned_row(cur)
        if release_owner is not None:
            self.run(cur, "release_claims", {"owner": release_owner, "order_ids": [t.order_id]})
        return inserted

    def orders_failed_by_run(self, status: str, *, run_id: str, actor: str, shard: int = 0, shards: int = 1
                             ) -> list[Row]:
        """Orders of ``shard`` currently in `status` that this run's `actor` put there (order id,
        from_status, detail)."""
        return self.fetch_all("orders_failed_by_run", {"status": status, "run_id": run_id, "actor": actor,
                                                       "shard": shard, "shards": shards})

    def history(self, order_id: str) -> list[Row]:
        return self.fetch_all("order_history", {"order_id": order_id})

    def history_with_events(self, order_id: str) -> list[Row]:
        """The history as people read it: status rows (``entry`` 'status') and order events (``entry``
        the event kind, ``status`` None: e.g. a partial cancelation), in the order they happened."""
        return self.fetch_all("order_history_with_events", {"order_id": order_id})

    def order_events(self, order_id: str) -> list[Row]:
        return self.fetch_all("order_events", {"order_id": order_id})

    def record_order_event(self, order_id: str, kind: str, *, actor: str | None,
                           detail: Mapping[str, Any]) -> Row | None:
        return self.fetch_one("insert_order_event", {"order_id": order_id, "kind": str(kind), "actor": actor,
                                                     "detail": jsonb(dict(detail))})


def _tuple(value: str | Sequence[str | None] | None) -> tuple[str | None, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return (value,)
    return tuple(value)
