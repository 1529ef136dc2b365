"""The doubt about a create-shipment POST (issue 12 item 4): when Canada Post may last have bought
a label for an ``intent`` without our knowing. See include/sql/migrations/016_create_doubt.sql and
orderflow.operators.create_recheck for the rule it serves."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from orderflow.store.base import StoreBase


@dataclass(frozen=True)
class CreateDoubt:
    """``at`` (DB clock) and ``age_seconds`` of the last create POST that may have been processed;
    both None when none can be pending."""

    at: datetime | None
    age_seconds: float | None
    status: str | None = None

    @property
    def pending(self) -> bool:
        return self.at is not None


class ShipmentDoubtMixin(StoreBase):
    def record_create_doubt(self, customer_request_id: str) -> datetime | None:
        """``create_doubt_at = now()`` on the intent (before a POST, and after an ambiguous answer).
        None when the row is no longer an intent."""
        row = self.fetch_one("record_create_doubt", {"customer_request_id": customer_request_id})
        return row["create_doubt_at"] if row else None

    def clear_create_doubt(self, customer_request_id: str, doubt_at: datetime | None) -> bool:
        """Canada Post said it did not process our POST made under ``doubt_at``: nothing is pending."""
        if doubt_at is None:
            return False
        row = self.fetch_one("clear_create_doubt", {"customer_request_id": customer_request_id,
                                                    "doubt_at": doubt_at})
        return row is not None

    def create_doubt(self, customer_request_id: str) -> CreateDoubt:
        row = self.fetch_one("create_doubt_age", {"customer_request_id": customer_request_id})
        if row is None:
            return CreateDoubt(None, None)
        return CreateDoubt(row["create_doubt_at"], row["age_seconds"], row["status"])
