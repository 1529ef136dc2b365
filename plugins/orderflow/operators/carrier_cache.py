"""The order database as the Canada Post hook's memory of non-contract shipments it has read.

The hook knows nothing of the store and the store nothing of hooks: this adapter, used by the steps
that look shipments up (shipping, void), joins them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from orderflow.hooks.canadapost_nc_lookup import SeenShipment

if TYPE_CHECKING:
    from orderflow.store import OrderStore


class StoreSeenShipments:
    """``SeenShipments`` backed by ``canadapost_seen_shipments`` (thread-safe: the store's pool)."""

    def __init__(self, store: OrderStore) -> None:
        self.store = store

    def known(self, hrefs: Sequence[str]) -> Mapping[str, SeenShipment]:
        return {
            href: SeenShipment(
                href=href, shipment_id=r["shipment_id"], tracking_pin=r["tracking_pin"],
                customer_ref_1=r["customer_ref_1"], customer_ref_2=r["customer_ref_2"], links=r["links"] or {},
            )
            for href, r in self.store.seen_nc_shipments(hrefs).items()
        }

    def remember(self, shipments: Sequence[SeenShipment]) -> None:
        self.store.remember_nc_shipments([
            {"href": s.href, "shipment_id": s.shipment_id, "tracking_pin": s.tracking_pin,
             "customer_ref_1": s.customer_ref_1, "customer_ref_2": s.customer_ref_2, "links": dict(s.links)}
            for s in shipments
        ])
