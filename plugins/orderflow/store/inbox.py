"""The customer-service inbox page's SQL: conversation lists, one conversation, agent replies."""

from __future__ import annotations

from orderflow.store.base import StoreBase


class InboxMixin(StoreBase):
    """Reads for the inbox page and the write of an agent's reply."""
