"""Inbox sync and auto-reply SQL (the messaging task group's part of the store)."""

from __future__ import annotations

from orderflow.store.base import StoreBase


class MessagingMixin(StoreBase):
    """Upsert customers/conversations/messages from Mirakl threads; the auto-reply ledger."""
