"""Looking shipments up by customer-request-id or tracking PIN: what create-shipment's recovery and
``CanadaPostHook.find_shipments`` read to learn whether a label was already bought.

Contract shipping searches by request id (Get Shipments ``?requestId=``); non-contract lists a time
window and matches each shipment's references (:mod:`~orderflow.hooks.canadapost_nc_lookup`). Either
way a listed shipment that is gone (404) or no longer a usable label (``VOIDED_STATUSES``) is skipped:
recovery must never adopt a dead label.

No HTTP here: every read goes through the hook's ``read`` (its retried, rate-limited GET).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

from orderflow.hooks import canadapost_nc_lookup as nclookup
from orderflow.hooks.canadapost_errors import CanadaPostNotFoundError
from orderflow.hooks.canadapost_model import ShipmentDetails, ShipmentInfo
from orderflow.hooks.canadapost_wire import VOIDED_STATUSES, Answer, Call, Wire

log = logging.getLogger("orderflow.hooks.canadapost")  # the hook's log, as before the split

# How far past "now" a non-contract look-up window reaches (clock skew between us and Canada Post).
NC_WINDOW_FUTURE = timedelta(hours=24)

T = TypeVar("T")


class Read(Protocol):
    """The hook's idempotent read: send ``call``, parse the answer inside the retry loop."""

    def __call__(self, call: Call, parse: Callable[[Answer, Call], T]) -> T: ...


class ShipmentLookup:
    """The look-ups of one wire, reading through ``read``; ``now`` is the hook's clock."""

    def __init__(self, wire: Wire, read: Read, seen: nclookup.SeenShipments, now: Callable[[], datetime]) -> None:
        self.wire = wire
        self.read = read
        self.seen = seen
        self.now = now

    def by_request_id(
        self, crid: str, start: datetime | None = None, end: datetime | None = None
    ) -> list[ShipmentInfo]:
        """The usable shipments bought under ``crid`` (each carrying it). Non-contract searches
        ``start``..``end`` (``start`` required); ``end`` defaults far in the future on purpose: a worker
        clock behind Canada Post's must not hide the shipment it just bought (a missed match would buy a
        second label)."""
        wire = self.wire
        if wire.contract:
            found = [i for i in self.resolve(wire.list_by_request_id(crid)) if i.customer_request_id in (None, crid)]
        else:
            assert start is not None, "a non-contract look-up needs the window's start"
            found = self._find_nc(crid, start, end or (self.now() + NC_WINDOW_FUTURE))
        return [i if i.customer_request_id else replace(i, customer_request_id=crid) for i in found]

    def by_pin(self, pin: str) -> list[ShipmentInfo]:
        return self.resolve(self.wire.list_by_pin(pin))

    def resolve(self, list_call: Call) -> list[ShipmentInfo]:
        """Get Shipments items → ShipmentInfo (following links; 404 = voided or expired → skipped)."""
        infos = [self.read_listed(item) for item in self.read(list_call, self.wire.parse_list)]
        return [info for info in infos if info is not None]

    def read_listed(self, item: str | ShipmentInfo) -> ShipmentInfo | None:
        """One listed shipment (its link followed); None when it is gone or no longer a usable label."""
        if isinstance(item, ShipmentInfo):
            info = item
        else:
            call = self.wire.get_shipment(item)
            try:
                info = self.read(call, self.wire.parse_shipment_info)
            except CanadaPostNotFoundError:
                log.info("listed shipment %s is gone (voided or expired)", call.ref)
                return None
        if (info.status or "").strip().lower() in VOIDED_STATUSES:
            log.info("listed shipment %s is %s: skipped", info.shipment_id, info.status)
            return None
        return info

    def _find_nc(self, crid: str, start: datetime, end: datetime) -> list[ShipmentInfo]:
        """Non-contract: list the window, read only the shipments ``seen`` has not seen, match refs."""
        wire = self.wire

        def read_details(info: ShipmentInfo) -> ShipmentDetails | None:
            try:
                return self.read(wire.get_details(info), wire.parse_details)
            except CanadaPostNotFoundError:
                return None

        return nclookup.find_by_reference(
            crid, self.read(wire.list_nc_window(start, end), wire.parse_list),
            read_info=self.read_listed, read_details=read_details, seen=self.seen,
        )
