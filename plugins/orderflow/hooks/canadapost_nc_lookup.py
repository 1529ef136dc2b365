"""Non-contract look-ups that read each shipment once (issue 12 item 9).

Canada Post's non-contract API (ncshipment v4) has no search by customer-request-id: a look-up lists
the shipments of a time window (Get NC Shipments, links only) and must read each one (Get Shipment
for its links and PIN, Get Shipment Details for its ``customer-ref-1/2``) to find the one carrying
our id. Read naively that costs two GETs per shipment in the window, every doubt, under the same
per-minute limits as label buying.

A shipment's id, PIN, links and references never change once it exists, so what a look-up has read
is kept by a :class:`SeenShipments` source (the order database in production, see
``orderflow.operators.carrier_cache``) and each later look-up reads only the listed shipments it has
not seen. The cost of a doubt is then one list call, two GETs per *new* shipment in the window, and
one GET for a remembered shipment that carries our id (read again so that a shipment gone since, or
voided, is never adopted). A shipment the hook bought itself is remembered from the create answer
(:func:`remember_created`): only shipments bought elsewhere, or whose answer was lost, are ever read.

Pure: no HTTP here. :func:`find_by_reference` takes the listed items and two read callbacks from the
hook (``CanadaPostHook._find_nc``), which owns the I/O, the retries and the rate limits.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from orderflow.hooks.canadapost_model import References, ShipmentDetails, ShipmentInfo

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SeenShipment:
    """What a look-up read once about a listed non-contract shipment.

    ``href`` is the link Get NC Shipments lists the shipment by: the cache key (compared as the
    carrier wrote it; a link in another form is simply read again, never mistaken for another).
    """

    href: str
    shipment_id: str
    tracking_pin: str | None
    customer_ref_1: str | None
    customer_ref_2: str | None
    links: Mapping[str, str] = field(default_factory=dict)

    def carries(self, customer_request_id: str) -> bool:
        """Whether this shipment was bought under ``customer_request_id`` (stamped in a reference by
        ``canadapost_xml.nc_references``)."""
        return customer_request_id in (self.customer_ref_1, self.customer_ref_2)


class SeenShipments(Protocol):
    """Where look-ups keep what they read. Must be safe to call from several threads."""

    def known(self, hrefs: Sequence[str]) -> Mapping[str, SeenShipment]:
        """The remembered shipments among ``hrefs`` (by href)."""
        ...

    def remember(self, shipments: Sequence[SeenShipment]) -> None:
        """Keep these (a repeat of a known href is ignored)."""
        ...


class NothingSeen:
    """No memory: every look-up reads every listed shipment (a hook built without a source)."""

    def known(self, hrefs: Sequence[str]) -> Mapping[str, SeenShipment]:
        return {}

    def remember(self, shipments: Sequence[SeenShipment]) -> None:
        return None


class SeenInMemory:
    """A process-local source (tests, tools): a dict behind a lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_href: dict[str, SeenShipment] = {}

    def known(self, hrefs: Sequence[str]) -> Mapping[str, SeenShipment]:
        with self._lock:
            return {h: self._by_href[h] for h in hrefs if h in self._by_href}

    def remember(self, shipments: Sequence[SeenShipment]) -> None:
        with self._lock:
            for s in shipments:
                self._by_href.setdefault(s.href, s)

    def __len__(self) -> int:
        with self._lock:
            return len(self._by_href)


def seen_from(href: str, info: ShipmentInfo, details: ShipmentDetails) -> SeenShipment:
    """The record kept of one shipment read in full."""
    return SeenShipment(
        href=href,
        shipment_id=info.shipment_id,
        tracking_pin=info.tracking_pin or details.tracking_pin,
        customer_ref_1=details.references.customer_ref_1,
        customer_ref_2=details.references.customer_ref_2,
        links=dict(info.links),
    )


def remember_created(seen: SeenShipments, references: References, info: ShipmentInfo) -> None:
    """Keep a shipment this process just bought (its create answer, the references we sent), so that
    no later look-up reads it. Never fails the purchase: a memory that cannot be written only costs
    the two GETs a later look-up then makes."""
    if not info.self_link:
        return
    record = SeenShipment(href=info.self_link, shipment_id=info.shipment_id, tracking_pin=info.tracking_pin,
                          customer_ref_1=references.customer_ref_1, customer_ref_2=references.customer_ref_2,
                          links=dict(info.links))
    try:
        seen.remember([record])
    except Exception:
        log.warning("could not remember shipment %s; a later look-up will read it", info.shipment_id,
                    exc_info=True)


#: Reads one listed shipment; None when it is gone (404) or no longer a usable label (voided).
ReadInfo = Callable[[str], ShipmentInfo | None]
#: Reads a shipment's details; None when they are gone (404).
ReadDetails = Callable[[ShipmentInfo], ShipmentDetails | None]


def find_by_reference(
    customer_request_id: str,
    listed: Sequence[str | ShipmentInfo],
    *,
    read_info: ReadInfo,
    read_details: ReadDetails,
    seen: SeenShipments,
) -> list[ShipmentInfo]:
    """The listed shipments bought under ``customer_request_id``, reading only what ``seen`` lacks.

    ``listed`` is what Get NC Shipments answered for the window (hrefs, or already-parsed infos).
    Shipments read here in full are remembered, whether or not they match; a remembered shipment is
    read again (one GET) only when it carries our id, and adopted only if still there.
    """
    hrefs = [item for item in listed if isinstance(item, str)]
    known = seen.known(hrefs) if hrefs else {}
    found: list[ShipmentInfo] = []
    learned: list[SeenShipment] = []
    for item in listed:
        if isinstance(item, str) and item in known:
            if known[item].carries(customer_request_id):
                info = read_info(item)
                if info is not None:
                    found.append(replace(info, customer_request_id=customer_request_id))
            continue
        info = item if isinstance(item, ShipmentInfo) else read_info(item)
        if info is None:
            continue
        details = read_details(info)
        if details is None:
            continue
        href = item if isinstance(item, str) else info.self_link
        record = seen_from(href or info.shipment_id, info, details)
        if href:
            learned.append(record)
        if record.carries(customer_request_id):
            found.append(replace(info, customer_request_id=customer_request_id))
    if learned:
        seen.remember(learned)
    return found
