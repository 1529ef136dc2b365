"""Inbox sync and auto-reply SQL (the messaging task group's part of the store).

Threads come in as ``ThreadRecord``s (``orderflow.hooks.mirakl_records.thread_from_payload``): batched
UPSERTs of customers/conversations/messages that write nothing when nothing changed (a re-sync is a
no-op), the reply flags, and the auto-reply ledger (``auto_replies``: at most one row per customer
message, committed as ``intent`` before M12 is called).

"Needs a reply", two clocks (migration 006):
- ``conversations.reply_needed_since`` is Mirakl's ``metadata.shop_reply_needed_since``, verbatim
  from the last sync (any shop message clears it at Mirakl, our auto-reply included).
- ``conversations.human_reply_needed_since`` is the inbox's clock: an auto-reply does not stop it,
  only a human-written shop message (or Mirakl saying no answer is owed without any auto-reply
  involved) does. Recomputed by ``refresh_reply_flags`` after every sync and every reply; the inbox
  page's agent replies should call it too.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from psycopg2.extras import RealDictCursor

from orderflow.hooks.mirakl_records import ThreadRecord
from orderflow.lifecycle import AR
from orderflow.store.base import Row, StoreBase, jsonb

# Rows per execute_values page / per transaction of sync: big enough to amortise round trips,
# small enough that one bad batch does not hold locks for long.
SYNC_BATCH = 200


@dataclass
class SyncCounts:
    customers_written: int = 0
    conversations_inserted: int = 0
    conversations_updated: int = 0
    messages_inserted: int = 0
    messages_updated: int = 0
    flags_changed: int = 0
    conversation_ids: dict[str, int] = field(default_factory=dict)  # thread id -> conversation id

    @property
    def writes(self) -> int:
        return (
            self.customers_written + self.conversations_inserted + self.conversations_updated
            + self.messages_inserted + self.messages_updated + self.flags_changed
        )

    def add(self, other: SyncCounts) -> None:
        self.customers_written += other.customers_written
        self.conversations_inserted += other.conversations_inserted
        self.conversations_updated += other.conversations_updated
        self.messages_inserted += other.messages_inserted
        self.messages_updated += other.messages_updated
        self.flags_changed += other.flags_changed
        self.conversation_ids.update(other.conversation_ids)


# ----------------------------------------------------------------------------------------------
# Auto-reply ledger claim
# ----------------------------------------------------------------------------------------------
class AutoReplyClaim:
    """One locked ``auto_replies`` row; its outcome is committed when the claim's block ends.

    The row lock is held across the M12 call, so a concurrent run skips the row instead of
    sending a second reply; if this process dies, the lock dies with its connection and the row
    stays ``intent`` for the next run to resolve (by reading the thread first).
    """

    def __init__(self, store: MessagingMixin, cur: RealDictCursor, row: Row) -> None:
        self._store = store
        self._cur = cur
        self.row = row

    def record_sent(
        self,
        *,
        mirakl_message_id: str,
        body: str,
        run_id: str | None,
        sent_at: datetime | None = None,
        sender_name: str | None = None,
    ) -> int:
        """Store our reply (``is_auto_reply``, ``in_reply_to``, template) and close the ledger row."""
        cur = self._cur
        self._store.run(
            cur,
            "msg_record_reply_message",
            {
                "mirakl_message_id": mirakl_message_id,
                "conversation_id": self.row["conversation_id"],
                "sender_name": sender_name,
                "body": body,
                "sent_at": sent_at,
                "is_auto_reply": True,
                "in_reply_to": self.row["customer_message_id"],
                "template_name": self.row["template_name"],
                "sent_by": "auto-reply",
            },
        )
        message = self._store.returned_row(cur)
        self._update(AR.SENT, run_id, reply_message_id=message["message_id"], mirakl_message_id=mirakl_message_id)
        self._store.run(
            cur, "msg_conversation_answered",
            {"conversation_id": self.row["conversation_id"], "sent_at": message["sent_at"]},
        )
        self._store.run(cur, "msg_refresh_reply_flags", {"conversation_ids": [self.row["conversation_id"]]})
        return int(message["message_id"])

    def record_failed(self, error: Mapping[str, Any], run_id: str | None, *, attempted: bool = True) -> None:
        self._update(AR.FAILED, run_id, error=error, attempted=attempted)

    def record_skipped(self, reason: str, run_id: str | None, **details: Any) -> None:
        self._update(AR.SKIPPED, run_id, error={"reason": reason, **details}, attempted=False)

    def keep_intent(self, error: Mapping[str, Any], run_id: str | None) -> None:
        """A transient failure: the row stays ``intent`` (next attempt reads the thread first)."""
        self._update(AR.INTENT, run_id, error=error)

    def _update(
        self,
        status: str,
        run_id: str | None,
        *,
        error: Mapping[str, Any] | None = None,
        reply_message_id: int | None = None,
        mirakl_message_id: str | None = None,
        attempted: bool = True,
    ) -> None:
        self._store.run(
            self._cur,
            "msg_update_auto_reply",
            {
                "customer_message_id": self.row["customer_message_id"],
                "status": status,
                "reply_message_id": reply_message_id,
                "mirakl_message_id": mirakl_message_id,
                "error": jsonb(error) if error is not None else None,
                "attempted": 1 if attempted else 0,
                "run_id": run_id,
            },
        )


# ----------------------------------------------------------------------------------------------
# The store part
# ----------------------------------------------------------------------------------------------
class MessagingMixin(StoreBase):
    """Upsert customers/conversations/messages from Mirakl threads; the auto-reply ledger."""

    # -- sync ------------------------------------------------------------------------------------
    def conversation_sync_state(self, thread_ids: Sequence[str]) -> dict[str, Row]:
        """What is stored per thread id: ``conversation_id``, ``mirakl_message_count``,
        ``last_message_at``, ``stored_messages`` (to skip M10 when nothing is missing)."""
        if not thread_ids:
            return {}
        rows = self.fetch_all("msg_conversations_by_thread", {"thread_ids": list(thread_ids)})
        return {r["mirakl_thread_id"]: r for r in rows}

    def upsert_threads(self, threads: Sequence[ThreadRecord]) -> SyncCounts:
        """Store threads (and the messages they carry) in batches; unchanged data writes nothing.

        Messages of a thread whose ``messages`` is None are left as stored. Returns counts and the
        thread id -> conversation id map.
        """
        total = SyncCounts()
        # One version per thread (the newest): a thread can show up twice while M11 pages move.
        latest: dict[str, ThreadRecord] = {}
        for thread in threads:
            held = latest.get(thread.thread_id)
            if held is None or thread.date_updated >= held.date_updated:
                latest[thread.thread_id] = thread
        ordered = [latest[k] for k in sorted(latest)]  # a fixed lock order across concurrent runs
        for start in range(0, len(ordered), SYNC_BATCH):
            total.add(self._upsert_thread_batch(ordered[start : start + SYNC_BATCH]))
        return total

    def _upsert_thread_batch(self, threads: Sequence[ThreadRecord]) -> SyncCounts:
        counts = SyncCounts()
        customers: dict[str, str | None] = {}
        for t in threads:
            if t.customer_id and (t.customer_id not in customers or t.customer_name):
                customers[t.customer_id] = t.customer_name
        with self.transaction() as cur:
            if customers:
                written = self.execute_values(
                    cur, "msg_upsert_customers", sorted(customers.items()), fetch=True, page_size=SYNC_BATCH
                )
                counts.customers_written = len(written)
            conv_rows = [
                (
                    t.thread_id, t.order_id, t.customer_id, t.topic, t.last_message_at, t.last_sender_type,
                    t.reply_needed_since, t.message_count, jsonb(t.raw),
                )
                for t in threads
            ]
            changed = self.execute_values(cur, "msg_upsert_conversations", conv_rows, fetch=True, page_size=SYNC_BATCH)
            counts.conversations_inserted = sum(1 for r in changed if r["inserted"])
            counts.conversations_updated = len(changed) - counts.conversations_inserted
            self.run(cur, "msg_conversations_by_thread", {"thread_ids": [t.thread_id for t in threads]})
            ids = {r["mirakl_thread_id"]: r["conversation_id"] for r in cur.fetchall()}
            counts.conversation_ids = ids

            # Thread order, not id order: message_id then follows Mirakl's order, which breaks
            # ties between messages stamped in the same millisecond ("latest message" queries).
            message_rows: dict[str, tuple[Any, ...]] = {}
            for t in threads:
                for m in t.messages or ():
                    message_rows.setdefault(m.mirakl_message_id, (
                        m.mirakl_message_id, ids[t.thread_id], m.sender_type, m.sender_name, m.body, m.sent_at,
                        jsonb(m.raw),
                    ))
            touched = {r["conversation_id"] for r in changed}
            if message_rows:
                written = self.execute_values(
                    cur, "msg_insert_messages", list(message_rows.values()),
                    fetch=True, page_size=SYNC_BATCH,
                )
                counts.messages_inserted = sum(1 for r in written if r["inserted"])
                counts.messages_updated = len(written) - counts.messages_inserted
                touched.update(r["conversation_id"] for r in written)
            if touched:
                self.run(cur, "msg_refresh_reply_flags", {"conversation_ids": sorted(touched)})
                counts.flags_changed = cur.rowcount
        return counts

    def refresh_reply_flags(self, conversation_ids: Sequence[int]) -> int:
        """Recompute ``human_reply_needed_since`` (module docstring); returns rows changed."""
        if not conversation_ids:
            return 0
        return self.execute("msg_refresh_reply_flags", {"conversation_ids": sorted(set(conversation_ids))})

    # -- auto-reply ------------------------------------------------------------------------------
    def get_reply_template(self, name: str) -> Row | None:
        return self.fetch_one("msg_get_reply_template", {"name": name})

    def auto_reply_candidates(self, *, limit: int = 1000) -> list[Row]:
        """Latest-message-is-the-customer's conversations Mirakl says need an answer, not yet in
        the ledger (see msg_auto_reply_candidates.sql for the columns)."""
        return self.fetch_all("msg_auto_reply_candidates", {"limit": limit})

    def create_auto_replies(self, rows: Sequence[Mapping[str, Any]]) -> set[int]:
        """Insert ledger rows (``intent`` to send, ``skipped`` with a reason) in one commit.

        Each mapping: ``customer_message_id, conversation_id, template_name, status, body, run_id,
        error``. Returns the customer message ids whose row this call created (a concurrent run's
        row is never overwritten).
        """
        if not rows:
            return set()
        values = [
            (
                r["customer_message_id"], r["conversation_id"], r["template_name"], r["status"], r.get("body"),
                r.get("run_id"), jsonb(r["error"]) if r.get("error") is not None else None,
            )
            for r in sorted(rows, key=lambda r: r["customer_message_id"])
        ]
        with self.transaction() as cur:
            created = self.execute_values(cur, "msg_insert_auto_replies", values, fetch=True)
        return {int(r["customer_message_id"]) for r in created}

    def open_auto_replies(self, run_id: str | None) -> list[Row]:
        """Ledger rows to (re)work: every ``intent``, and ``failed`` rows of ``run_id``."""
        return self.fetch_all("msg_open_auto_replies", {"run_id": run_id})

    @contextmanager
    def claim_auto_reply(
        self, customer_message_id: int, statuses: Sequence[str] = (AR.INTENT,)
    ) -> Iterator[AutoReplyClaim | None]:
        """Lock one ledger row (SKIP LOCKED) for the duration of the block; None if another
        worker holds it or its status is no longer one of ``statuses``. Commits on exit."""
        with self.transaction() as cur:
            self.run(
                cur, "msg_lock_auto_reply",
                {"customer_message_id": customer_message_id, "statuses": list(statuses)},
            )
            row = cur.fetchone()
            yield AutoReplyClaim(self, cur, dict(row)) if row is not None else None
