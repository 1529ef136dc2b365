"""Canada Post end of day (manifest v8): pure builders and parsers, no I/O.

The close of day transmits the day's groups (Transmit Shipments), then reads what Canada Post made
of them: the manifests (Get Manifests by date, Get Manifest), their details (po-number, date, the
``customer-ref`` we sent) and the shipments each one holds (manifestShipments link), and downloads
each manifest's PDF (its ``artifact`` link, the same Get Artifact call as a label).

Everything here works on manifest-v8 elements; the portal transport's JSON answers are turned into
the same elements by the hook (``CanadaPostHook.read_manifest_document``), so one parser serves both.
Element names follow ``shared/reference/canadapost-xsd/manifest.xsd``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from urllib.parse import urlsplit

from lxml import etree

from orderflow.hooks import canadapost_xml as cpxml
from orderflow.hooks.canadapost_model import TransmitResult

NS = cpxml.NS_MANIFEST
#: transmit-set ``customer-reference`` (CustomerReferenceType): at most 12 characters. We send the
#: group id there, so Get Manifest Details names the group each manifest came from.
CUSTOMER_REFERENCE_MAX = 12


@dataclass(frozen=True)
class ManifestInfo:
    """Get Manifest: the PO number and the links (``self``, ``details``, ``artifact``,
    ``manifestShipments``). ``manifest_id`` is the last segment of the ``self`` link."""

    manifest_id: str
    po_number: str | None
    links: dict[str, str] = field(default_factory=dict)

    @property
    def artifact_link(self) -> str | None:
        return self.links.get("artifact")


@dataclass(frozen=True)
class ManifestDetails:
    """The parts of ``manifest-details`` the close of day records."""

    po_number: str | None
    manifest_date: str | None
    manifest_time: str | None
    customer_ref: str | None
    method_of_payment: str | None
    total_due: Decimal | None
    final_shipping_point: str | None


def _local(el: etree._Element) -> str:
    return etree.QName(el).localname if isinstance(el.tag, str) else ""


def _text(el: etree._Element, name: str) -> str | None:
    for child in el:
        if _local(child) == name:
            value = (child.text or "").strip()
            return value or None
    return None


def _links(el: etree._Element) -> list[etree._Element]:
    """``link`` children, directly or inside a ``links`` container (the portal's JSON shape)."""
    found: list[etree._Element] = []
    for child in el:
        if _local(child) == "link":
            found.append(child)
        elif _local(child) == "links":
            found.extend(c for c in child if _local(c) == "link")
    return found


def _expect(root: etree._Element, name: str) -> None:
    if _local(root) != name:
        raise cpxml.XmlDecodeError(f"expected <{name}>, got <{_local(root)}>")


def last_segment(href: str) -> str:
    """The id at the end of a link (``…/manifest/123`` -> ``123``)."""
    return urlsplit(href).path.rstrip("/").rsplit("/", 1)[-1]


# --------------------------------------------------------------------------------------------
# builders
# --------------------------------------------------------------------------------------------


def customer_reference_for(group_ids: list[str]) -> str | None:
    """The ``customer-reference`` of a transmit: the group id when one group fits in 12 characters."""
    if len(group_ids) == 1 and len(group_ids[0]) <= CUSTOMER_REFERENCE_MAX:
        return group_ids[0]
    return None


def build_transmit_set(
    group_ids: list[str], s: cpxml.ShipperSettings, customer_reference: str | None = None
) -> etree._Element:
    """``<transmit-set>`` for these groups (see :func:`canadapost_xml.build_transmit_set`), with an
    optional ``customer-reference`` (≤ 12 characters) that Get Manifest Details gives back."""
    root = cpxml.build_transmit_set(group_ids, s)
    if customer_reference:
        if len(customer_reference) > CUSTOMER_REFERENCE_MAX:
            raise ValueError(f"customer-reference is at most {CUSTOMER_REFERENCE_MAX} characters")
        el = etree.SubElement(root, f"{{{NS}}}customer-reference")
        el.text = customer_reference
    return root


def manifests_by_date_params(start: date, end: date) -> dict[str, str]:
    """Get Manifests query: ``start``/``end`` as ``YYYYMMDD`` (manifest dates, Eastern time)."""
    if end < start:
        raise ValueError("end before start")
    return {"start": start.strftime("%Y%m%d"), "end": end.strftime("%Y%m%d")}


# --------------------------------------------------------------------------------------------
# parsers (manifest-v8 elements)
# --------------------------------------------------------------------------------------------


def parse_manifest_links(root: etree._Element) -> TransmitResult:
    """``<manifests>`` (the transmit's answer, or Get Manifests by date): the manifest links."""
    _expect(root, "manifests")
    return TransmitResult(manifest_links=[h for h in (link.get("href") for link in _links(root)) if h])


def parse_manifest(root: etree._Element) -> ManifestInfo:
    _expect(root, "manifest")
    links: dict[str, str] = {}
    for link in _links(root):
        rel, href = link.get("rel"), link.get("href")
        if rel and href and rel not in links:
            links[rel] = href
    if "self" not in links:
        raise cpxml.XmlDecodeError("manifest without a self link")
    return ManifestInfo(manifest_id=last_segment(links["self"]), po_number=_text(root, "po-number"), links=links)


def parse_manifest_details(root: etree._Element) -> ManifestDetails:
    _expect(root, "manifest-details")
    total: Decimal | None = None
    for child in root:
        if _local(child) == "manifest-pricing-info":
            try:
                total = Decimal(_text(child, "total-due-cpc") or "")
            except InvalidOperation:
                total = None
    return ManifestDetails(
        po_number=_text(root, "po-number"),
        manifest_date=_text(root, "manifest-date"),
        manifest_time=_text(root, "manifest-time"),
        customer_ref=_text(root, "customer-ref"),
        method_of_payment=_text(root, "method-of-payment"),
        total_due=total,
        final_shipping_point=_text(root, "final-shipping-point"),
    )


def parse_manifest_shipments(root: etree._Element) -> list[str]:
    """``<shipments>`` of a manifest: the shipment ids (last segment of each ``shipment`` link)."""
    _expect(root, "shipments")
    return [last_segment(h) for h in (link.get("href") for link in _links(root)) if h]
