"""The customer-service inbox page's SQL: conversation lists, one conversation, agent replies."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from orderflow.store.base import Row, StoreBase, jsonb


class InboxMixin(StoreBase):
    """Reads for the inbox page and the write of an agent's reply."""

    def inbox_conversations(
        self, *, needs_reply_only: bool = False, order_id: str | None = None, limit: int = 200
    ) -> list[Row]:
        return self.fetch_all(
            "inbox_conversations",
            {"needs_reply_only": needs_reply_only, "order_id": order_id or None, "limit": limit},
        )

    def inbox_counts(self) -> dict[str, int]:
        row = self.fetch_one("inbox_counts") or {}
        return {"all": int(row.get("all_conversations") or 0), "needs_reply": int(row.get("needs_reply") or 0)}

    def inbox_conversation(self, conversation_id: int) -> Row | None:
        return self.fetch_one("inbox_conversation", {"conversation_id": conversation_id})

    def inbox_messages(self, conversation_id: int) -> list[Row]:
        return self.fetch_all("inbox_messages", {"conversation_id": conversation_id})

    def inbox_reply_templates(self) -> list[Row]:
        return self.fetch_all("inbox_reply_templates")

    def record_agent_reply(
        self,
        conversation_id: int,
        *,
        body: str,
        agent: str,
        agent_name: str | None = None,
        mirakl_message_id: str | None,
        sent_at: datetime,
        template_name: str | None = None,
        raw: Mapping[str, Any] | None = None,
    ) -> Row:
        """Store a reply Mirakl accepted and clear the conversation's "needs reply", atomically.

        The flags are the messaging store's (msg_conversation_answered mirrors what Mirakl does on
        any shop message; msg_refresh_reply_flags recomputes the inbox's human clock), run in this
        transaction so the list never shows a sent reply next to "needs reply".
        """
        with self.transaction() as cur:
            self.run(
                cur,
                "inbox_insert_agent_reply",
                {
                    "mirakl_message_id": mirakl_message_id,
                    "conversation_id": conversation_id,
                    "sender_name": agent_name or agent,
                    "body": body,
                    "sent_at": sent_at,
                    "sent_by": agent,
                    "template_name": template_name,
                    "raw": jsonb(dict(raw or {})),
                },
            )
            message = self.returned_row(cur)
            self.run(cur, "msg_conversation_answered", {"conversation_id": conversation_id, "sent_at": sent_at})
            self.run(cur, "msg_refresh_reply_flags", {"conversation_ids": [conversation_id]})
            return message
