"""Canada Post XML gateway codec (karrio style): pure request builders and response parsers.

Builders return the lxml element (the JSON codec reuses it) or bytes; parsers take the body bytes and
return ``(result, messages)`` where ``messages`` are the carrier's :class:`CarrierMessage` list (empty
on success); each has a ``*_from_element`` twin that reads an element already parsed (or built from
JSON by the portal codec) without serialising it again. Nothing here does I/O. Element names and
order follow the XSDs in ``shared/reference/canadapost-xsd`` (shipment v8, ncshipment v4, manifest
v8, track, messages).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import cast
from urllib.parse import quote
from zoneinfo import ZoneInfo

from lxml import etree

from orderflow.hooks.canadapost_model import (
    CarrierMessage,
    References,
    RefundInfo,
    Sender,
    ShipmentDetails,
    ShipmentInfo,
    ShipmentRequest,
    TrackingSummary,
    TransmitResult,
    normalise_postal_code,
)

NS_SHIPMENT = "http://www.canadapost.ca/ws/shipment-v8"
NS_NCSHIPMENT = "http://www.canadapost.ca/ws/ncshipment-v4"
NS_MANIFEST = "http://www.canadapost.ca/ws/manifest-v8"
NS_MESSAGES = "http://www.canadapost.ca/ws/messages"
NS_TRACK = "http://www.canadapost.ca/ws/track"

MT_SHIPMENT = "application/vnd.cpc.shipment-v8+xml"
MT_NCSHIPMENT = "application/vnd.cpc.ncshipment-v4+xml"
MT_MANIFEST = "application/vnd.cpc.manifest-v8+xml"
MT_TRACK = "application/vnd.cpc.track-v2+xml"
MT_PDF = "application/pdf"
MT_ZPL = "application/zpl"

# The NC "Get Shipments" window is in Eastern time (reference §3).
EASTERN = ZoneInfo("America/Toronto")

# No DTDs, no entities, no network: answers come from the network and must not reach our files.
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def default_namespace(ns: str) -> Mapping[str, str]:
    """``{None: ns}``, the ``nsmap`` that makes ``ns`` the default namespace. lxml documents the None
    key; lxml-stubs types nsmap keys as str only, hence the cast."""
    return cast("Mapping[str, str]", {None: ns})


class XmlDecodeError(ValueError):
    """The body is not the XML we expected (truncated, HTML error page, wrong root)."""


@dataclass(frozen=True)
class ShipperSettings:
    """What the connection says about the seller (everything a request needs besides the parcel)."""

    customer_number: str
    mobo: str
    sender: Sender
    origin_postal_code: str
    contract_id: str | None = None
    service_code: str = "DOM.EP"
    output_format: str = "4x6"
    encoding: str = "PDF"
    method_of_payment: str = "Account"
    default_group_id: str | None = None  # None = <transmit-shipment/> (no manifest)

    @property
    def contract(self) -> bool:
        return bool(self.contract_id)


# --------------------------------------------------------------------------------------------
# paths
# --------------------------------------------------------------------------------------------


def path_customer_number(number: str) -> str:
    """Path ids are 1-10 digits (reference §1). Sent as configured, like karrio does: Canada Post shows
    them zero-padded to 10, and a seller who configures the padded form gets the padded form."""
    digits = number.strip()
    if not digits.isdigit() or not 1 <= len(digits) <= 10:
        raise ValueError("customer number / mobo must be 1-10 digits")
    return digits


def contract_shipments_path(s: ShipperSettings) -> str:
    return f"/rs/{path_customer_number(s.customer_number)}/{path_customer_number(s.mobo)}/shipment"


def nc_shipments_path(s: ShipperSettings) -> str:
    return f"/rs/{path_customer_number(s.customer_number)}/ncshipment"


def shipments_path(s: ShipperSettings) -> str:
    return contract_shipments_path(s) if s.contract else nc_shipments_path(s)


def shipment_path(s: ShipperSettings, shipment_id: str) -> str:
    return f"{shipments_path(s)}/{quote(shipment_id, safe='')}"


def manifest_path(s: ShipperSettings) -> str:
    return f"/rs/{path_customer_number(s.customer_number)}/{path_customer_number(s.mobo)}/manifest"


def tracking_summary_path(pin: str) -> str:
    return f"/vis/track/pin/{quote(pin, safe='')}/summary"


def shipment_media_type(s: ShipperSettings) -> str:
    return MT_SHIPMENT if s.contract else MT_NCSHIPMENT


def nc_window_params(start: datetime, end: datetime) -> dict[str, str]:
    """``from``/``to`` query values (YYYYMMDDHHMM, Eastern time) for Get NC Shipments."""
    fmt = "%Y%m%d%H%M"
    return {"from": start.astimezone(EASTERN).strftime(fmt), "to": end.astimezone(EASTERN).strftime(fmt)}


# --------------------------------------------------------------------------------------------
# builders
# --------------------------------------------------------------------------------------------


def _sub(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    el = etree.SubElement(parent, f"{{{parent.nsmap[None]}}}{tag}")
    if text is not None:
        el.text = text
    return el


def _opt(parent: etree._Element, tag: str, text: str | None) -> None:
    if text:
        _sub(parent, tag, text)


def _bool(value: bool) -> str:
    return "true" if value else "false"


def nc_references(request: ShipmentRequest) -> References:
    """References for a non-contract shipment, with the customer-request-id stamped in one.

    ncshipment v4 has no ``customer-request-id``; recovery after a lost answer finds the shipment by
    time window and then matches ``customer-ref-1/2`` in its details. Without the id in a reference a
    lost answer could never be told apart from "no label", so we refuse to buy such a label.
    """
    refs = request.references
    crid = request.customer_request_id
    if crid in (refs.customer_ref_1, refs.customer_ref_2):
        return refs
    if not refs.customer_ref_2:
        return References(refs.customer_ref_1, crid, refs.cost_centre)
    if not refs.customer_ref_1:
        return References(crid, refs.customer_ref_2, refs.cost_centre)
    raise ValueError(
        "a non-contract shipment needs customer_request_id in customer-ref-1 or customer-ref-2 "
        "(its only searchable field); both references are taken"
    )


def _sender(spec: etree._Element, sender: Sender, *, with_country: bool) -> None:
    el = _sub(spec, "sender")
    _opt(el, "name", sender.name)
    _sub(el, "company", sender.company)
    _sub(el, "contact-phone", sender.phone)
    addr = _sub(el, "address-details")
    _sub(addr, "address-line-1", sender.address_line_1)
    _opt(addr, "address-line-2", sender.address_line_2)
    _sub(addr, "city", sender.city)
    _sub(addr, "prov-state", sender.province)
    if with_country:
        _sub(addr, "country-code", sender.country_code)
    _sub(addr, "postal-zip-code", normalise_postal_code(sender.postal_code))


def _destination(spec: etree._Element, request: ShipmentRequest) -> None:
    d = request.destination
    el = _sub(spec, "destination")
    _opt(el, "name", d.name)
    _opt(el, "company", d.company)
    _opt(el, "additional-address-info", d.additional_address_info)
    _opt(el, "client-voice-number", d.phone)
    addr = _sub(el, "address-details")
    _sub(addr, "address-line-1", d.address_line_1)
    _opt(addr, "address-line-2", d.address_line_2)
    _sub(addr, "city", d.city)
    _sub(addr, "prov-state", d.province)
    _sub(addr, "country-code", d.country_code)
    postal = normalise_postal_code(d.postal_code) if d.country_code.upper() == "CA" else d.postal_code
    _opt(addr, "postal-zip-code", postal)


def _parcel(spec: etree._Element, request: ShipmentRequest) -> None:
    p = request.parcel
    el = _sub(spec, "parcel-characteristics")
    _sub(el, "weight", str(p.weight_kg))
    if p.has_dimensions:
        dims = _sub(el, "dimensions")
        _sub(dims, "length", str(p.length_cm))
        _sub(dims, "width", str(p.width_cm))
        _sub(dims, "height", str(p.height_cm))


def _references(spec: etree._Element, refs: References) -> None:
    if not (refs.cost_centre or refs.customer_ref_1 or refs.customer_ref_2):
        return
    el = _sub(spec, "references")
    _opt(el, "cost-centre", refs.cost_centre)
    _opt(el, "customer-ref-1", refs.customer_ref_1)
    _opt(el, "customer-ref-2", refs.customer_ref_2)


def _notification(spec: etree._Element, email: str | None) -> None:
    if not email:
        return
    el = _sub(spec, "notification")
    _sub(el, "email", email)
    _sub(el, "on-shipment", "true")
    _sub(el, "on-exception", "false")
    _sub(el, "on-delivery", "true")


def build_contract_shipment(request: ShipmentRequest, s: ShipperSettings) -> etree._Element:
    """``<shipment>`` (shipment v8) for ``POST /rs/{mailed-by}/{mobo}/shipment``."""
    root = etree.Element(f"{{{NS_SHIPMENT}}}shipment", nsmap=default_namespace(NS_SHIPMENT))
    _sub(root, "customer-request-id", request.customer_request_id)
    group_id = request.group_id or s.default_group_id
    if group_id:
        _sub(root, "group-id", group_id)
    else:
        _sub(root, "transmit-shipment", "true")
    _sub(root, "requested-shipping-point", normalise_postal_code(s.origin_postal_code))
    if request.expected_mailing_date:
        _sub(root, "expected-mailing-date", request.expected_mailing_date.isoformat())
    _sub(root, "provide-pricing-info", "true")
    spec = _sub(root, "delivery-spec")
    _sub(spec, "service-code", request.service_code or s.service_code)
    _sender(spec, s.sender, with_country=True)
    _destination(spec, request)
    _parcel(spec, request)
    _notification(spec, request.notification_email)
    prefs = _sub(spec, "print-preferences")
    _sub(prefs, "output-format", s.output_format)
    _sub(prefs, "encoding", s.encoding)
    preferences = _sub(spec, "preferences")
    _sub(preferences, "show-packing-instructions", "false")
    _sub(preferences, "show-postage-rate", "false")
    _sub(preferences, "show-insured-value", "false")
    _references(spec, request.references)
    settlement = _sub(spec, "settlement-info")
    _sub(settlement, "contract-id", s.contract_id)
    _sub(settlement, "intended-method-of-payment", s.method_of_payment)
    return root


def build_nc_shipment(request: ShipmentRequest, s: ShipperSettings) -> etree._Element:
    """``<non-contract-shipment>`` (ncshipment v4) for ``POST /rs/{mailed-by}/ncshipment``.

    No group, no manifest, no print preferences (the label format comes from the Canada Post profile),
    and the sender address has no country code (domestic only).
    """
    root = etree.Element(f"{{{NS_NCSHIPMENT}}}non-contract-shipment", nsmap=default_namespace(NS_NCSHIPMENT))
    _sub(root, "requested-shipping-point", normalise_postal_code(s.origin_postal_code))
    spec = _sub(root, "delivery-spec")
    _sub(spec, "service-code", request.service_code or s.service_code)
    _sender(spec, s.sender, with_country=False)
    _destination(spec, request)
    _parcel(spec, request)
    _notification(spec, request.notification_email)
    preferences = _sub(spec, "preferences")
    _sub(preferences, "show-packing-instructions", "false")
    _sub(preferences, "show-postage-rate", "false")
    _sub(preferences, "show-insured-value", "false")
    _references(spec, nc_references(request))
    return root


def build_shipment(request: ShipmentRequest, s: ShipperSettings) -> etree._Element:
    return build_contract_shipment(request, s) if s.contract else build_nc_shipment(request, s)


def build_refund_request(email: str, *, contract: bool) -> etree._Element:
    if contract:
        root = etree.Element(f"{{{NS_SHIPMENT}}}shipment-refund-request", nsmap=default_namespace(NS_SHIPMENT))
    else:
        root = etree.Element(
            f"{{{NS_NCSHIPMENT}}}non-contract-shipment-refund-request", nsmap=default_namespace(NS_NCSHIPMENT)
        )
    _sub(root, "email", email)
    return root


def build_transmit_set(group_ids: list[str], s: ShipperSettings) -> etree._Element:
    """``<transmit-set>`` (manifest v8): the groups to close, shipped from the origin postal code, one
    detailed manifest, billed to the account, with the sender as manifest address."""
    if not group_ids:
        raise ValueError("transmit needs at least one group id")
    root = etree.Element(f"{{{NS_MANIFEST}}}transmit-set", nsmap=default_namespace(NS_MANIFEST))
    groups = _sub(root, "group-ids")
    for gid in group_ids:
        _sub(groups, "group-id", gid)
    _sub(root, "requested-shipping-point", normalise_postal_code(s.origin_postal_code))
    _sub(root, "detailed-manifests", "true")
    _sub(root, "method-of-payment", s.method_of_payment)
    addr = _sub(root, "manifest-address")
    _sub(addr, "manifest-company", s.sender.company)
    _opt(addr, "manifest-name", s.sender.name)
    _sub(addr, "phone-number", s.sender.phone)
    details = _sub(addr, "address-details")
    _sub(details, "address-line-1", s.sender.address_line_1)
    _opt(details, "address-line-2", s.sender.address_line_2)
    _sub(details, "city", s.sender.city)
    _sub(details, "prov-state", s.sender.province)
    _sub(details, "country-code", s.sender.country_code)
    _sub(details, "postal-zip-code", normalise_postal_code(s.sender.postal_code))
    return root


def to_bytes(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


# --------------------------------------------------------------------------------------------
# parsers
# --------------------------------------------------------------------------------------------


def _local(el: etree._Element) -> str:
    return etree.QName(el).localname if isinstance(el.tag, str) else ""


def _kids(el: etree._Element, name: str) -> list[etree._Element]:
    return [c for c in el if _local(c) == name]


def _find(el: etree._Element, *path: str) -> etree._Element | None:
    node: etree._Element | None = el
    for name in path:
        if node is None:
            return None
        found = _kids(node, name)
        node = found[0] if found else None
    return node


def _text(el: etree._Element, *path: str) -> str | None:
    node = _find(el, *path)
    if node is None or node.text is None:
        return None
    value = node.text.strip()
    return value or None


def parse_xml(body: bytes | str) -> etree._Element:
    """The root element; :class:`XmlDecodeError` for anything that is not well-formed XML."""
    if isinstance(body, str):
        body = body.encode("utf-8")
    if not body or not body.strip():
        raise XmlDecodeError("empty body")
    try:
        return etree.fromstring(body, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise XmlDecodeError(f"not well-formed XML: {exc}") from exc


def parse_messages_element(root: etree._Element) -> list[CarrierMessage]:
    if _local(root) != "messages":
        return []
    return [
        CarrierMessage(code=_text(m, "code") or "", description=_text(m, "description") or "")
        for m in _kids(root, "message")
    ]


def parse_messages(body: bytes | str | None) -> list[CarrierMessage]:
    """The ``<messages>`` of an error answer; [] when the body is empty or something else."""
    if not body or not body.strip():
        return []
    try:
        root = parse_xml(body)
    except XmlDecodeError:
        return []
    return parse_messages_element(root)


def _expect_root(root: etree._Element, *names: str) -> None:
    if _local(root) not in names:
        raise XmlDecodeError(f"expected <{'|'.join(names)}>, got <{_local(root)}>")


def parse_links(el: etree._Element) -> tuple[dict[str, str], dict[str, str]]:
    """(rel → href, rel → media-type) of a ``<links>`` container; the first link of each rel wins
    (labels of a single parcel have index 0 only)."""
    links: dict[str, str] = {}
    media: dict[str, str] = {}
    container = _find(el, "links")
    for link in _kids(container, "link") if container is not None else []:
        rel, href = link.get("rel"), link.get("href")
        if rel and href and rel not in links:
            links[rel] = href
            media[rel] = link.get("media-type") or ""
    return links, media


def _decimal(text: str | None) -> Decimal | None:
    if text is None:
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        return None


def shipment_info_from_element(root: etree._Element) -> ShipmentInfo:
    _expect_root(root, "shipment-info", "non-contract-shipment-info")
    shipment_id = _text(root, "shipment-id")
    if not shipment_id:
        raise XmlDecodeError("shipment-info without shipment-id")
    links, media = parse_links(root)
    contract = _local(root) == "shipment-info"
    return ShipmentInfo(
        shipment_id=shipment_id,
        tracking_pin=_text(root, "tracking-pin"),
        status=_text(root, "shipment-status") if contract else None,
        links=links,
        price=_decimal(_text(root, "shipment-price", "due-amount")),
        customer_request_id=_text(root, "customer-request-id"),
        po_number=_text(root, "po-number"),
        contract=contract,
        label_media_type=media.get("label") or None,
    )


def parse_shipment_info(body: bytes | str) -> tuple[ShipmentInfo | None, list[CarrierMessage]]:
    """Create/Get Shipment answer (contract ``shipment-info`` or ``non-contract-shipment-info``)."""
    root = parse_xml(body)
    messages = parse_messages_element(root)
    if messages or _local(root) == "messages":
        return None, messages
    return shipment_info_from_element(root), []


def parse_shipments(body: bytes | str) -> tuple[list[str | ShipmentInfo], list[CarrierMessage]]:
    """Get Shipments answer: ``<shipments>`` of ``link rel="shipment"`` (or ``shipment-info`` items when
    asked with provideShipmentInfo), or ``<non-contract-shipments>`` of links. Items are hrefs or
    already-parsed :class:`ShipmentInfo`."""
    root = parse_xml(body)
    if _local(root) == "messages":
        return [], parse_messages_element(root)
    return shipments_from_element(root), []


def shipments_from_element(root: etree._Element) -> list[str | ShipmentInfo]:
    """The items of a ``<shipments>`` / ``<non-contract-shipments>`` element (see :func:`parse_shipments`)."""
    _expect_root(root, "shipments", "non-contract-shipments")
    items: list[str | ShipmentInfo] = []
    for child in root:
        name = _local(child)
        href = child.get("href")
        if name == "link" and href:
            items.append(href)
        elif name == "shipment-info":
            items.append(shipment_info_from_element(child))
    return items


def parse_shipment_details(body: bytes | str) -> tuple[ShipmentDetails | None, list[CarrierMessage]]:
    """Get Shipment Details (``shipment-details`` or ``non-contract-shipment-details``)."""
    root = parse_xml(body)
    if _local(root) == "messages":
        return None, parse_messages_element(root)
    return shipment_details_from_element(root), []


def shipment_details_from_element(root: etree._Element) -> ShipmentDetails:
    _expect_root(root, "shipment-details", "non-contract-shipment-details")
    if _local(root) == "shipment-details":
        spec = _find(root, "shipment-detail", "delivery-spec")
        group_id = _text(root, "shipment-detail", "group-id")
    else:
        spec = _find(root, "delivery-spec")
        group_id = None
    refs = References()
    if spec is not None:
        refs = References(
            customer_ref_1=_text(spec, "references", "customer-ref-1"),
            customer_ref_2=_text(spec, "references", "customer-ref-2"),
            cost_centre=_text(spec, "references", "cost-centre"),
        )
    return ShipmentDetails(
        customer_request_id=_text(root, "customer-request-id"),
        status=_text(root, "shipment-status"),
        tracking_pin=_text(root, "tracking-pin"),
        group_id=group_id,
        references=refs,
    )


def parse_refund_info(body: bytes | str) -> tuple[RefundInfo | None, list[CarrierMessage]]:
    root = parse_xml(body)
    if _local(root) == "messages":
        return None, parse_messages_element(root)
    return refund_info_from_element(root), []


def refund_info_from_element(root: etree._Element) -> RefundInfo:
    _expect_root(root, "shipment-refund-request-info", "non-contract-shipment-refund-request-info")
    ticket = _text(root, "service-ticket-id")
    if not ticket:
        raise XmlDecodeError("refund answer without service-ticket-id")
    return RefundInfo(service_ticket_id=ticket, service_ticket_date=_text(root, "service-ticket-date"))


def parse_manifests(body: bytes | str) -> tuple[TransmitResult | None, list[CarrierMessage]]:
    root = parse_xml(body)
    if _local(root) == "messages":
        return None, parse_messages_element(root)
    return manifests_from_element(root), []


def manifests_from_element(root: etree._Element) -> TransmitResult:
    _expect_root(root, "manifests")
    container = _find(root, "links")
    links = _kids(root, "link") + (_kids(container, "link") if container is not None else [])
    hrefs = [href for href in (link.get("href") for link in links) if href]
    return TransmitResult(manifest_links=hrefs)


def parse_tracking_summary(body: bytes | str) -> tuple[TrackingSummary | None, list[CarrierMessage]]:
    root = parse_xml(body)
    if _local(root) == "messages":
        return None, parse_messages_element(root)
    return tracking_summary_from_element(root), []


def tracking_summary_from_element(root: etree._Element) -> TrackingSummary:
    _expect_root(root, "tracking-summary")
    pins = _kids(root, "pin-summary")
    if not pins:
        raise XmlDecodeError("tracking-summary without pin-summary")
    p = pins[0]
    pin = _text(p, "pin")
    if not pin:
        raise XmlDecodeError("pin-summary without pin")
    return TrackingSummary(
        pin=pin,
        event_type=_text(p, "event-type"),
        event_description=_text(p, "event-description"),
        event_date_time=_text(p, "event-date-time"),
        event_location=_text(p, "event-location"),
        mailed_on_date=_text(p, "mailed-on-date"),
        expected_delivery_date=_text(p, "expected-delivery-date"),
        actual_delivery_date=_text(p, "actual-delivery-date"),
        service_name=_text(p, "service-name"),
        destination_postal_id=_text(p, "destination-postal-id"),
        customer_ref_1=_text(p, "customer-ref-1"),
        customer_ref_2=_text(p, "customer-ref-2"),
    )
