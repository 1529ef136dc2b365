"""Refund and cancelation intents (migration 012): the rows that make OR28/OR30 exactly once.

The protocol itself is :mod:`orderflow.aftersale`; this is its SQL.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import psycopg2
import psycopg2.errors

from orderflow.lifecycle import MI
from orderflow.store.base import Row, StoreBase, jsonb

#: The intent statuses the money queries take (lifecycle.MoneyIntentStatus, never spelled in SQL).
_ST = {"open": str(MI.INTENT), "done": str(MI.DONE), "failed": str(MI.FAILED)}


class OpenIntentExists(RuntimeError):
    """The line already has an unsettled intent of this kind: settle that one first."""


class MoneyIntentsMixin(StoreBase):
    def create_money_intent(
        self,
        *,
        intent_id: str,
        kind: str,
        order_id: str,
        order_line_id: str,
        purpose: str,
        amount: Decimal,
        shipping_amount: Decimal,
        quantity: int,
        taxes: Sequence[tuple[str, Decimal]],
        reason_code: str,
        known_ids: Sequence[str],
        return_id: str | None = None,
        requested_by: str | None = None,
        note: str | None = None,
    ) -> Row:
        """Commit the intent (idempotent on ``intent_id``; ``inserted`` says whether this call made it)."""
        params = {
            "intent_id": intent_id, "kind": kind, "order_id": order_id, "order_line_id": order_line_id,
            "purpose": purpose, "amount": amount, "shipping_amount": shipping_amount, "quantity": quantity,
            "taxes": jsonb([{"code": code, "amount": str(value)} for code, value in taxes]),
            "reason_code": reason_code, "known_ids": jsonb(sorted(known_ids)), "return_id": return_id,
            "requested_by": requested_by, "note": note,
        }
        try:
            with self.transaction() as cur:
                self.run(cur, "money_insert_intent", params)
                row = cur.fetchone()
                if row is None:
                    self.run(cur, "money_get_intent", {"intent_id": intent_id})
                    return self.returned_row(cur)
                return dict(row)
        except psycopg2.errors.UniqueViolation as exc:
            raise OpenIntentExists(
                f"line {order_line_id} already has an unsettled {kind}: it is settled first (read back from Best Buy)"
            ) from exc

    def money_intent(self, intent_id: str) -> Row | None:
        return self.fetch_one("money_get_intent", {"intent_id": intent_id})

    def money_intents_for_order(self, order_id: str) -> list[Row]:
        return self.fetch_all("money_intents_for_order", {"order_id": order_id})

    def open_money_intents(self, *, before: datetime | None = None, limit: int = 100) -> list[Row]:
        return self.fetch_all("money_open_intents",
                              {**_ST, "before": before or datetime.now(UTC), "limit": limit})

    def next_money_purpose(self, order_line_id: str, kind: str) -> int:
        row = self.fetch_one("money_count_purpose", {"order_line_id": order_line_id, "kind": kind})
        return int(row["n"] if row else 0) + 1

    def mark_money_attempt(self, intent_id: str) -> Row | None:
        return self.fetch_one("money_mark_attempt", {**_ST, "intent_id": intent_id})

    def mark_money_done(
        self,
        intent_id: str,
        mirakl_id: str,
        *,
        event: tuple[str, str | None, Mapping[str, Any]] | None = None,
    ) -> Row | None:
        """Settle the intent; ``event`` (kind, actor, detail) goes into the order's events in the same
        transaction, only by the call that settled it (a second settle finds nothing open)."""
        with self.transaction() as cur:
            self.run(cur, "money_mark_done", {**_ST, "intent_id": intent_id, "mirakl_id": mirakl_id})
            row = cur.fetchone()
            if row is None:
                return None
            if event is not None:
                kind, actor, detail = event
                self.run(cur, "insert_order_event", {"order_id": row["order_id"], "kind": kind, "actor": actor,
                                                     "detail": jsonb(dict(detail))})
            return dict(row)

    def mark_money_failed(self, intent_id: str, error: Mapping[str, Any]) -> Row | None:
        return self.fetch_one("money_mark_failed", {**_ST, "intent_id": intent_id, "error": jsonb(dict(error))})

    def note_money_error(self, intent_id: str, error: Mapping[str, Any]) -> Row | None:
        return self.fetch_one("money_note_error", {**_ST, "intent_id": intent_id, "error": jsonb(dict(error))})

    def claimed_money_ids(self, order_line_id: str, *, except_intent: str) -> set[str]:
        rows = self.fetch_all("money_claimed_ids", {"order_line_id": order_line_id, "intent_id": except_intent})
        return {r["mirakl_id"] for r in rows}

    @contextmanager
    def money_lock(self, intent_id: str) -> Iterator[bool]:
        """A session advisory lock on one intent while its Best Buy calls run (False: someone has it)."""
        with self.session_lock("money_try_lock", "money_release_lock", {"intent_id": intent_id}) as locked:
            yield locked
