"""Response documents as XML element trees, valid against the official XSDs.

Both flavours render through here: the XML gateway serialises the tree, the Developer Portal
converts it to JSON (``jsonxml.xml_to_json``). Only the links differ, so a :class:`Urls` of the
caller's flavour decides every href and media type.
"""

from __future__ import annotations

import copy
import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import quote

from lxml import etree

from sandbox.canadapost.state import CONTRACT, EASTERN, Manifest, Shipment, TrackingEvent
from sandbox.canadapost.wire import (
    MT_JSON,
    MT_MANIFEST,
    MT_NCSHIPMENT,
    MT_PDF,
    MT_SHIPMENT,
    MT_ZPL,
    NS_MANIFEST,
    NS_NCSHIPMENT,
    NS_SHIPMENT,
    NS_TRACK,
    element,
    q,
    sub,
)

Link = tuple[str, str]  # (href, media type)


def label_media_type(sh: Shipment) -> str:
    return MT_ZPL if sh.encoding == "ZPL" else MT_PDF


@dataclass
class XmlUrls:
    """Links on the legacy gateway (``/rs/...``), as the real one returns them."""

    base: str  # scheme://host[:port], no trailing slash
    flavour: str = "xml"

    def shipment(self, sh: Shipment, suffix: str = "") -> Link:
        if sh.kind == CONTRACT:
            return f"{self.base}/rs/{sh.mailed_by}/{sh.mobo}/shipment/{sh.shipment_id}{suffix}", MT_SHIPMENT
        return f"{self.base}/rs/{sh.mailed_by}/ncshipment/{sh.shipment_id}{suffix}", MT_NCSHIPMENT

    def group(self, sh: Shipment) -> Link:
        return self.group_of(sh.mailed_by, sh.mobo, sh.group_id or "")

    def group_of(self, mailed_by: str, mobo: str, group_id: str) -> Link:
        return f"{self.base}/rs/{mailed_by}/{mobo}/shipment?groupId={quote(group_id, safe='')}", MT_SHIPMENT

    def artifact(self, key: str, artifact_id: str, media_type: str) -> Link:
        return f"{self.base}/rs/artifact/{key}/{artifact_id}/0", media_type

    def manifest(self, m: Manifest, suffix: str = "") -> Link:
        return f"{self.base}/rs/{m.mailed_by}/{m.mobo}/manifest/{m.manifest_id}{suffix}", MT_MANIFEST


@dataclass
class PortalUrls:
    """Links on the Developer Portal flavour (``<prefix>/shipping/v1/...``); derived, unconfirmed."""

    base: str  # scheme://host[:port] + portal prefix, no trailing slash
    flavour: str = "portal"

    def shipment(self, sh: Shipment, suffix: str = "") -> Link:
        return f"{self.base}/shipping/v1/{sh.mailed_by}/{sh.mobo}/shipments/{sh.shipment_id}{suffix}", MT_JSON

    def group(self, sh: Shipment) -> Link:
        return self.group_of(sh.mailed_by, sh.mobo, sh.group_id or "")

    def group_of(self, mailed_by: str, mobo: str, group_id: str) -> Link:
        return f"{self.base}/shipping/v1/{mailed_by}/{mobo}/shipments?groupId={quote(group_id, safe='')}", MT_JSON

    def artifact(self, key: str, artifact_id: str, media_type: str) -> Link:
        return f"{self.base}/shipping/v1/artifacts/{key}/{artifact_id}/0", media_type

    def manifest(self, m: Manifest, suffix: str = "") -> Link:
        return f"{self.base}/shipping/v1/{m.mailed_by}/{m.mobo}/manifests/{m.manifest_id}{suffix}", MT_JSON


Urls = XmlUrls | PortalUrls


def _link(parent: etree._Element, rel: str, link: Link, index: int | None = None) -> None:
    attrs = {"rel": rel, "href": link[0], "media-type": link[1]}
    if index is not None:
        attrs["index"] = str(index)
    sub(parent, "link", **attrs)


def _fill(parent: etree._Element, data: dict) -> None:
    """Dict -> child elements (lists of dicts become repeated wrapper children)."""
    for key, value in data.items():
        if value is None:
            continue
        if key in ("priced-options", "adjustments"):
            if not value:
                continue  # an empty wrapper is valid but says nothing
            wrapper = sub(parent, key)
            item = "priced-option" if key == "priced-options" else "adjustment"
            for entry in value:
                _fill(sub(wrapper, item), entry)
        elif isinstance(value, dict):
            _fill(sub(parent, key), value)
        else:
            sub(parent, key, str(value))


# -- shipments --------------------------------------------------------------------------------


def shipment_info(sh: Shipment, urls: Urls, *, include_price: bool) -> etree._Element:
    """``shipment-info`` (contract) or ``non-contract-shipment-info``.

    ``customer-request-id`` is not echoed (the create response is not known to carry it; Get
    Shipment Details does). ``shipment-price`` only when the request asked with
    ``provide-pricing-info`` (v8 semantics); the price link always works.
    """
    if sh.kind == CONTRACT:
        root = element(NS_SHIPMENT, "shipment-info")
        sub(root, "shipment-id", sh.shipment_id)
        sub(root, "shipment-status", sh.status)
        sub(root, "tracking-pin", sh.tracking_pin)
        if sh.po_number:
            sub(root, "po-number", sh.po_number)
        if include_price and sh.price:
            _fill(sub(root, "shipment-price"), sh.price)
        links = sub(root, "links")
        _link(links, "self", urls.shipment(sh))
        _link(links, "details", urls.shipment(sh, "/details"))
        if sh.group_id:
            _link(links, "group", urls.group(sh))
        _link(links, "price", urls.shipment(sh, "/price"))
        _link(links, "label", urls.artifact(sh.artifact_key, sh.artifact_id, label_media_type(sh)), 0)
        _link(links, "refund", urls.shipment(sh, "/refund"))
        return root
    root = element(NS_NCSHIPMENT, "non-contract-shipment-info")
    sub(root, "shipment-id", sh.shipment_id)
    sub(root, "tracking-pin", sh.tracking_pin)
    links = sub(root, "links")
    _link(links, "self", urls.shipment(sh))
    _link(links, "details", urls.shipment(sh, "/details"))
    _link(links, "label", urls.artifact(sh.artifact_key, sh.artifact_id, label_media_type(sh)), 0)
    _link(links, "refund", urls.shipment(sh, "/refund"))
    return root


def shipment_price(sh: Shipment) -> etree._Element:
    root = element(NS_SHIPMENT, "shipment-price")
    _fill(root, sh.price)
    return root


def shipment_details(sh: Shipment) -> etree._Element:
    request = etree.fromstring(sh.request_xml)
    if sh.kind == CONTRACT:
        ns = NS_SHIPMENT
        root = element(ns, "shipment-details")
        if sh.customer_request_id:
            sub(root, "customer-request-id", sh.customer_request_id)
        sub(root, "shipment-status", sh.status)
        sub(root, "final-shipping-point", sh.final_shipping_point)
        sub(root, "tracking-pin", sh.tracking_pin)
        if sh.po_number:
            sub(root, "po-number", sh.po_number)
        detail = sub(root, "shipment-detail")
        # The original request minus what the details type does not carry (it is "ShipmentType
        # without requested-shipping-point", per the XSD's own comment).
        for name in ("group-id", "transmit-shipment", "quickship-label-requested", "expected-mailing-date",
                     "delivery-spec", "return-spec"):  # fmt: skip
            found = request.find(q(ns, name))
            if found is not None:
                detail.append(copy.deepcopy(found))
        if sh.refund:
            _fill(sub(detail, "refund-request-info"), _ticket(sh.refund))
        return root
    ns = NS_NCSHIPMENT
    root = element(ns, "non-contract-shipment-details")
    sub(root, "final-shipping-point", sh.final_shipping_point)
    sub(root, "tracking-pin", sh.tracking_pin)
    found = request.find(q(ns, "delivery-spec"))
    if found is not None:
        root.append(copy.deepcopy(found))
    if sh.refund:
        _fill(sub(root, "refund-request-info"), _ticket(sh.refund))
    return root


def _ticket(refund: dict) -> dict:
    return {"service-ticket-date": refund["service-ticket-date"], "service-ticket-id": refund["service-ticket-id"]}


def refund_info(sh: Shipment) -> etree._Element:
    assert sh.refund is not None
    if sh.kind == CONTRACT:
        root = element(NS_SHIPMENT, "shipment-refund-request-info")
    else:
        root = element(NS_NCSHIPMENT, "non-contract-shipment-refund-request-info")
    _fill(root, _ticket(sh.refund))
    return root


def shipment_links(kind: str, shipments: list[Shipment], urls: Urls) -> etree._Element:
    """Get Shipments: ``<shipments>`` (or ``<non-contract-shipments>``) of ``rel="shipment"`` links."""
    root = element(NS_SHIPMENT, "shipments") if kind == CONTRACT else element(NS_NCSHIPMENT, "non-contract-shipments")
    for sh in shipments:
        _link(root, "shipment", urls.shipment(sh))
    return root


def groups(group_ids: list[str], mailed_by: str, mobo: str, urls: Urls) -> etree._Element:
    root = element(NS_SHIPMENT, "groups")
    for gid in group_ids:
        g = sub(root, "group")
        sub(g, "group-id", gid)
        _link(g, "self", urls.group_of(mailed_by, mobo, gid))
    return root


# -- manifests --------------------------------------------------------------------------------


def manifests(items: list[Manifest], urls: Urls) -> etree._Element:
    root = element(NS_MANIFEST, "manifests")
    for m in items:
        _link(root, "manifest", urls.manifest(m))
    return root


def manifest(m: Manifest, urls: Urls) -> etree._Element:
    root = element(NS_MANIFEST, "manifest")
    sub(root, "po-number", m.po_number)
    links = sub(root, "links")
    _link(links, "self", urls.manifest(m))
    _link(links, "details", urls.manifest(m, "/details"))
    _link(links, "artifact", urls.artifact(m.artifact_key, m.artifact_id, MT_PDF), 0)
    _link(links, "manifestShipments", urls.manifest(m, "/shipments"))
    return root


def manifest_details(m: Manifest, shipments: list[Shipment], contract_id: str | None) -> etree._Element:
    request = etree.fromstring(m.request_xml)
    root = element(NS_MANIFEST, "manifest-details")
    created = dt.datetime.fromtimestamp(m.created_at, EASTERN)
    sub(root, "po-number", m.po_number)
    sub(root, "final-shipping-point", m.final_shipping_point)
    sub(root, "shipping-point-name", "SANDBOX POST OFFICE")
    sub(root, "shipping-point-id", "0001")
    sub(root, "mailed-by-customer", m.mailed_by.lstrip("0") or "0")
    sub(root, "mailed-on-behalf-of", m.mobo.lstrip("0") or "0")
    sub(root, "paid-by-customer", m.mailed_by.lstrip("0") or "0")
    if m.customer_reference:
        sub(root, "customer-ref", m.customer_reference)
    sub(root, "manifest-date", created.date().isoformat())
    sub(root, "manifest-time", f"{created:%H:%M} {created.tzname() or 'ET'}")
    if contract_id:
        sub(root, "contract-id", contract_id)
    sub(root, "method-of-payment", m.method_of_payment)
    total = {k: Decimal(0) for k in ("base", "opts", "gst", "pst", "hst", "due")}
    for sh in shipments:
        p = sh.price
        if not p:
            continue
        total["base"] += Decimal(p["base-amount"])
        total["opts"] += sum((Decimal(o["option-price"]) for o in p.get("priced-options", [])), Decimal(0))
        total["opts"] += sum((Decimal(a["adjustment-amount"]) for a in p.get("adjustments", [])), Decimal(0))
        total["gst"] += Decimal(p["gst-amount"])
        total["pst"] += Decimal(p["pst-amount"])
        total["hst"] += Decimal(p["hst-amount"])
        total["due"] += Decimal(p["due-amount"])
    pricing_info = sub(root, "manifest-pricing-info")
    for name, key in (("base-cost", "base"), ("automation-discount", None), ("options-and-surcharges", "opts"),
                      ("gst", "gst"), ("pst", "pst"), ("hst", "hst"), ("total-due-cpc", "due")):  # fmt: skip
        sub(pricing_info, name, f"{(total[key] if key else Decimal(0)):.2f}")
    address = request.find(q(NS_MANIFEST, "manifest-address"))
    if address is not None:
        root.append(copy.deepcopy(address))
    return root


def manifest_shipments(shipments: list[Shipment], urls: Urls) -> etree._Element:
    root = element(NS_MANIFEST, "shipments")
    for sh in shipments:
        _link(root, "shipment", urls.shipment(sh))
    return root


# -- tracking ---------------------------------------------------------------------------------


def _event_stamp(at: float) -> str:
    return f"{dt.datetime.fromtimestamp(at, EASTERN):%Y%m%d:%H%M%S}"


def tracking_summary(sh: Shipment, events: list[TrackingEvent]) -> etree._Element:
    """``tracking-summary`` with one ``pin-summary``; every element is required by track.xsd,
    dates may be empty (``emptyDate``)."""
    root = element(NS_TRACK, "tracking-summary")
    s = sub(root, "pin-summary")
    last = events[-1]
    delivered = last.event_type == "DELIVERED"
    dest = sh.label.get("destination") or {}
    sender = sh.label.get("sender") or {}
    expected = (sh.price.get("service-standard") or {}).get("expected-delivery-date", "")
    fields = {
        "pin": sh.tracking_pin,
        "origin-postal-id": (sender.get("postal_code") or sh.final_shipping_point)[:3],
        "destination-postal-id": (dest.get("postal_code") or "")[:3],
        "destination-province": dest.get("prov_state") or "",
        "service-name": sh.label.get("service_name") or "",
        "mailed-on-date": dt.datetime.fromtimestamp(events[0].at, EASTERN).date().isoformat(),
        "expected-delivery-date": expected,
        "actual-delivery-date": dt.datetime.fromtimestamp(last.at, EASTERN).date().isoformat() if delivered else "",
        "delivery-option-completed-ind": "1" if delivered else "0",
        "event-date-time": _event_stamp(last.at),
        "event-description": last.description,
        "attempted-date": "",
        "customer-ref-1": sh.label.get("customer_ref_1") or "",
        "customer-ref-2": sh.label.get("customer_ref_2") or "",
        "return-pin": "",
        "event-type": last.event_type,
        "event-location": last.location,
        "signatory-name": (dest.get("name") or "").upper()[:20]
        if delivered and "SO" in sh.label.get("options", [])
        else "",
    }
    for name, value in fields.items():
        sub(s, name, value)
    return root
