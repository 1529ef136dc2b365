"""Agents' reply intents (migration 018): the rows that make an inbox reply (M12) exactly once.

The protocol is :mod:`orderflow.replies`; this is its SQL. Every change of a row is committed before
the call it prepares: the intent and its first attempt before the first M12, each later attempt
before its M12, the lease before an M10 read-back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from orderflow.store.base import Row, StoreBase, jsonb

# What a claim lets its request do (see ``claim_agent_reply``).
SEND = "send"              # call M12 now (this request holds the lease; the attempt is counted)
CHECK = "check"            # read the thread back (M10) first: an earlier attempt may have reached Best Buy
ALREADY_SENT = "sent"      # Best Buy has it: nothing to do
BUSY = "busy"              # another request holds the lease right now
FOREIGN = "foreign"        # the key belongs to another conversation: refused
NOTHING = "nothing"        # check_only: no intent under this key (nothing was submitted)


class ReplyKeyMismatch(ValueError):
    """A reply key submitted for a conversation it was not made for."""


@dataclass(frozen=True)
class ReplyClaim:
    action: str
    row: Row


class AgentRepliesMixin(StoreBase):
    """Intents of agents' replies: claim, attempt, verdict."""

    def claim_agent_reply(
        self,
        *,
        reply_key: str,
        conversation_id: int,
        body: str,
        agent: str,
        agent_name: str | None = None,
        template_name: str | None = None,
        lease_seconds: float = 90.0,
        check_only: bool = False,
    ) -> ReplyClaim:
        """Decide, under the row's lock, what the request submitting ``reply_key`` may do; commit it.

        - First submit of the key: the intent is committed with ``body``, the lease and attempt 1: SEND.
        - ``sent``: ALREADY_SENT. Lease held by another request: BUSY. Another conversation: FOREIGN.
        - ``unknown``, or ``sending`` with an expired lease (a request that died mid-call): CHECK, with
          the lease taken: the caller reads the thread (M10) and matches the intent's stored text before
          anything is resent (``begin_agent_reply_attempt``).
        - ``not_sent`` (Best Buy provably refused or never got it): SEND, with the submitted ``body``.

        ``check_only`` (a page view): never creates an intent and never returns SEND; a ``not_sent``
        row is left as it is (ALREADY_SENT is still reported). Returns the claim; its ``row`` has the
        intent's columns plus ``seconds_since_attempt`` (by the database's clock).
        """
        params = {
            "reply_key": reply_key, "conversation_id": conversation_id, "body": body, "agent": agent,
            "agent_name": agent_name, "template_name": template_name, "lease_seconds": float(lease_seconds),
        }
        with self.transaction() as cur:
            if not check_only:
                self.run(cur, "reply_insert_intent", params)
                inserted = cur.fetchone()
                if inserted is not None:
                    return ReplyClaim(SEND, dict(inserted))
            self.run(cur, "reply_lock_intent", {"reply_key": reply_key})
            found = cur.fetchone()
            if found is None:
                return ReplyClaim(NOTHING, {})
            row = dict(found)
            if int(row["conversation_id"]) != int(conversation_id):
                return ReplyClaim(FOREIGN, row)
            if row["status"] == "sent":
                return ReplyClaim(ALREADY_SENT, row)
            if row["lease_held"]:
                return ReplyClaim(BUSY, row)
            if row["status"] == "not_sent":
                if check_only:
                    return ReplyClaim(BUSY, row)
                self.run(cur, "reply_take_lease", {**params, "new_attempt": True})
                return ReplyClaim(SEND, self.returned_row(cur))
            # unknown, or sending with its lease run out: read back first.
            self.run(cur, "reply_take_lease", {**params, "new_attempt": False})
            return ReplyClaim(CHECK, self.returned_row(cur))

    def begin_agent_reply_attempt(
        self,
        reply_key: str,
        *,
        body: str,
        agent: str,
        agent_name: str | None = None,
        template_name: str | None = None,
        lease_seconds: float = 90.0,
    ) -> Row:
        """After a read-back found nothing: count the next M12 attempt (and its text), commit, renew the lease."""
        with self.transaction() as cur:
            self.run(
                cur, "reply_take_lease",
                {"reply_key": reply_key, "body": body, "agent": agent, "agent_name": agent_name,
                 "template_name": template_name, "lease_seconds": float(lease_seconds), "new_attempt": True},
            )
            return self.returned_row(cur)

    def release_agent_reply(
        self, reply_key: str, status: str, *, error: Mapping[str, Any] | None = None, checked: bool = False
    ) -> Row | None:
        """The lease holder's verdict short of "sent": ``unknown`` (read back before any resend) or
        ``not_sent`` (safe to send again). ``checked``: a read-back (M10) was made just now."""
        if status not in ("unknown", "not_sent"):
            raise ValueError(f"release status must be unknown or not_sent, not {status!r}")
        with self.transaction() as cur:
            self.run(
                cur, "reply_release",
                {"reply_key": reply_key, "status": status, "error": jsonb(error) if error is not None else None,
                 "checked": checked},
            )
            row = cur.fetchone()
            return dict(row) if row is not None else None

    def record_agent_reply_sent(
        self,
        reply_key: str,
        *,
        mirakl_message_id: str,
        sent_at: datetime,
        adopted: bool = False,
        sender_name: str | None = None,
        raw: Mapping[str, Any] | None = None,
    ) -> Row | None:
        """Best Buy has the reply: store our copy of the message (``sent_by`` the agent), close the
        intent and clear the conversation's "needs reply", in one transaction. None if the intent was
        already closed (by a concurrent request that found the same message)."""
        with self.transaction() as cur:
            self.run(cur, "reply_lock_intent", {"reply_key": reply_key})
            intent = cur.fetchone()
            if intent is None or intent["status"] == "sent":
                return None
            self.run(
                cur,
                "inbox_insert_agent_reply",
                {
                    "mirakl_message_id": mirakl_message_id,
                    "conversation_id": intent["conversation_id"],
                    "sender_name": sender_name or intent["agent_name"] or intent["agent"],
                    "body": intent["body"],
                    "sent_at": sent_at,
                    "sent_by": intent["agent"],
                    "template_name": intent["template_name"],
                    "raw": jsonb({**dict(raw or {}), "reply_key": reply_key,
                                  "agent_display_name": intent["agent_name"]}),
                },
            )
            message = self.returned_row(cur)
            self.run(
                cur, "reply_mark_sent",
                {"reply_key": reply_key, "mirakl_message_id": mirakl_message_id,
                 "message_id": message["message_id"], "adopted": adopted, "sent_at": sent_at},
            )
            closed = self.returned_row(cur)
            self.run(cur, "msg_conversation_answered",
                     {"conversation_id": intent["conversation_id"], "sent_at": sent_at})
            self.run(cur, "msg_refresh_reply_flags", {"conversation_ids": [intent["conversation_id"]]})
            return closed

    def agent_reply(self, reply_key: str) -> Row | None:
        """One intent by key (with ``seconds_since_attempt`` and ``lease_held``), or None."""
        return self.fetch_one("reply_get", {"reply_key": reply_key})

    def open_agent_reply(self, conversation_id: int, agent: str) -> Row | None:
        """The agent's latest reply on the conversation Best Buy does not have for sure, or None."""
        return self.fetch_one("reply_open_for_agent", {"conversation_id": conversation_id, "agent": agent})

    def claimed_mirakl_message_ids(self, conversation_id: int, reply_key: str) -> set[str]:
        """Mirakl message ids of the conversation that belong to another known reply (never adopted)."""
        rows = self.fetch_all("reply_claimed_message_ids", {"conversation_id": conversation_id, "reply_key": reply_key})
        return {r["mirakl_message_id"] for r in rows}
