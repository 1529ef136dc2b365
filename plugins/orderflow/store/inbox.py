"""The customer-service inbox page's SQL: conversation lists, one conversation, reply templates.

An agent's reply is stored by ``replies.py`` (``record_agent_reply_sent``, exactly once)."""

from __future__ import annotations

from orderflow.store.base import Row, StoreBase


class InboxMixin(StoreBase):
    """Reads for the inbox page."""

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
