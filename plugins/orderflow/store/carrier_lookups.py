"""What carrier look-ups read once and keep (issue 12 item 9): Canada Post non-contract shipments.

Rows, not hook types: ``orderflow.operators.carrier_cache`` adapts them to the hook's
``SeenShipments`` source.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from orderflow.store.base import Row, StoreBase, jsonb

SEEN_FIELDS = ("href", "shipment_id", "tracking_pin", "customer_ref_1", "customer_ref_2", "links")


class CarrierLookupsMixin(StoreBase):
    def seen_nc_shipments(self, hrefs: Sequence[str]) -> dict[str, Row]:
        """Remembered non-contract shipments among ``hrefs``, by href."""
        if not hrefs:
            return {}
        rows = self.fetch_all("nc_seen_known", {"hrefs": list(hrefs)})
        return {r["href"]: r for r in rows}

    def remember_nc_shipments(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Keep these (fields ``SEEN_FIELDS``); a link already kept is left as it was."""
        if not rows:
            return
        values = [
            (r["href"], r["shipment_id"], r.get("tracking_pin"), r.get("customer_ref_1"), r.get("customer_ref_2"),
             jsonb(dict(r.get("links") or {})))
            for r in rows
        ]
        with self.transaction() as cur:
            self.execute_values(cur, "nc_seen_remember", values)
