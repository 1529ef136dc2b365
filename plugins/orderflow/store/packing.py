"""The packing station's SQL: the queue, pack sessions, scans, overrides, label prints."""

from __future__ import annotations

from orderflow.store.base import StoreBase


class PackingMixin(StoreBase):
    """Reads and writes of the packing station."""
