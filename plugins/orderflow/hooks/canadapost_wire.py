"""The Canada Post wire (karrio style): each call built as a :class:`Call` and each answer parsed,
per transport, with no I/O. The hook (:mod:`~orderflow.hooks.canadapost`) sends the calls.

Two transports, chosen by the Connection (:class:`~orderflow.hooks.canadapost_settings.CanadaPostSettings`):

- ``xml`` (:class:`XmlWire`): the REST/XML gateway (``soa-gw``), bodies by
  :mod:`~orderflow.hooks.canadapost_xml`, HTTP Basic auth.
- ``portal`` (:class:`PortalWire`): the Developer Portal, the same documents as JSON by
  :mod:`~orderflow.hooks.canadapost_json`, OAuth 2 bearer tokens.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

from lxml import etree

from orderflow.hooks import canadapost_json as cpjson
from orderflow.hooks import canadapost_manifest as cpmanifest
from orderflow.hooks import canadapost_xml as cpxml
from orderflow.hooks.canadapost_errors import _MalformedAnswer
from orderflow.hooks.canadapost_model import (
    CarrierMessage,
    RefundInfo,
    ShipmentDetails,
    ShipmentInfo,
    ShipmentRequest,
    TrackingSummary,
    TransmitResult,
)
from orderflow.hooks.canadapost_settings import CanadaPostSettings
from orderflow.hooks.canadapost_xml import XmlDecodeError

# shipment-status values that mean "no longer a usable label". The gateway answers 404 for a voided
# shipment (reference §5), but a list answer carrying shipment-info inline, or a gateway that keeps
# voided shipments readable, must not let recovery adopt a dead label (its PIN would go to Best Buy).
VOIDED_STATUSES = frozenset({"voided", "void", "cancelled", "canceled"})


@dataclass(frozen=True)
class Call:
    """One HTTP request, built before it is sent."""

    op: str  # name for logs and errors
    method: str
    url: str
    group: str  # Canada Post throttle group
    accept: str
    content_type: str | None = None
    body: bytes | None = None
    params: dict[str, str] | None = None
    ref: str | None = None  # the id the call is about (for error messages)


@dataclass
class Answer:
    status: int
    body: bytes
    content_type: str
    headers: Any


class Wire(abc.ABC):
    """What differs between the transports: URLs, media types, body codec, answer codec."""

    def __init__(self, config: CanadaPostSettings) -> None:
        self.config = config
        self.s = config.shipper

    @property
    def contract(self) -> bool:
        return self.s.contract

    # each transport provides these
    @abc.abstractmethod
    def url(self, path: str) -> str:
        """Transport-specific."""

    @abc.abstractmethod
    def shipments_url(self) -> str:
        """Transport-specific."""

    @abc.abstractmethod
    def create(self, request: ShipmentRequest, group_id: str | None) -> Call:
        """Transport-specific."""

    @abc.abstractmethod
    def messages(self, answer: Answer) -> list[CarrierMessage]:
        """Transport-specific."""

    @abc.abstractmethod
    def root(self, answer: Answer, call: Call, root: str, ns: str) -> etree._Element:
        """Transport-specific."""

    @abc.abstractmethod
    def list_accept(self) -> str:
        """Transport-specific."""

    @abc.abstractmethod
    def manifests_url(self) -> str:
        """Transport-specific."""

    @abc.abstractmethod
    def transmit(self, group_ids: list[str], customer_reference: str | None = None) -> Call:
        """Transport-specific."""

    @abc.abstractmethod
    def refund(self, shipment: str | ShipmentInfo, email: str) -> Call:
        """Transport-specific."""

    @abc.abstractmethod
    def track(self, pin: str) -> Call:
        """Transport-specific."""

    @abc.abstractmethod
    def parse_list(self, answer: Answer) -> list[str | ShipmentInfo]:
        """Transport-specific."""

    @abc.abstractmethod
    def parse_tracking(self, answer: Answer, call: Call) -> TrackingSummary:
        """Transport-specific."""

    # shared
    def shipment_url(self, shipment: str | ShipmentInfo) -> str:
        if isinstance(shipment, ShipmentInfo):
            return shipment.self_link or f"{self.shipments_url()}/{shipment.shipment_id}"
        if "://" in shipment:
            return shipment
        return f"{self.shipments_url()}/{shipment}"

    def list_by_request_id(self, crid: str) -> Call:
        return Call("get_shipments", "GET", self.shipments_url(), "C", self.list_accept(),
                     params={"requestId": crid}, ref=crid)

    def list_by_pin(self, pin: str) -> Call:
        return Call("get_shipments", "GET", self.shipments_url(), "C", self.list_accept(),
                     params={"trackingPIN": pin}, ref=pin)

    def list_nc_window(self, start: datetime, end: datetime) -> Call:
        return Call("get_shipments", "GET", self.shipments_url(), "C", self.list_accept(),
                     params=cpxml.nc_window_params(start, end))

    def get_shipment(self, shipment: str | ShipmentInfo) -> Call:
        return Call("get_shipment", "GET", self.shipment_url(shipment), "A", self.list_accept(),
                     ref=short_ref(shipment))

    def get_details(self, shipment: str | ShipmentInfo) -> Call:
        if isinstance(shipment, ShipmentInfo) and shipment.links.get("details"):
            url = shipment.links["details"]
        else:
            url = self.shipment_url(shipment).rstrip("/") + "/details"
        return Call("get_shipment_details", "GET", url, "A", self.list_accept(), ref=short_ref(shipment))

    def artifact(self, link: str, accept: str) -> Call:
        return Call("get_label", "GET", link if "://" in link else self.url(link), "A", accept,
                     ref=short_ref(link))

    def void(self, shipment: str | ShipmentInfo) -> Call:
        return Call("void_shipment", "DELETE", self.shipment_url(shipment), "B", self.list_accept(),
                     ref=short_ref(shipment))

    def refund_url(self, shipment: str | ShipmentInfo) -> str:
        if isinstance(shipment, ShipmentInfo) and shipment.links.get("refund"):
            return shipment.links["refund"]
        return self.shipment_url(shipment).rstrip("/") + "/refund"

    def parse_shipment_info(self, answer: Answer, call: Call) -> ShipmentInfo:
        root_name = "shipment-info" if self.contract else "non-contract-shipment-info"
        ns = cpxml.NS_SHIPMENT if self.contract else cpxml.NS_NCSHIPMENT
        root = self.root(answer, call, root_name, ns)
        try:
            return cpxml.shipment_info_from_element(root)
        except XmlDecodeError as exc:
            raise _MalformedAnswer(f"{call.op}: {exc}", status=answer.status, request_id=call.ref) from exc

    def parse_details(self, answer: Answer, call: Call) -> ShipmentDetails:
        root_name = "shipment-details" if self.contract else "non-contract-shipment-details"
        ns = cpxml.NS_SHIPMENT if self.contract else cpxml.NS_NCSHIPMENT
        root = self.root(answer, call, root_name, ns)
        try:
            details, _ = cpxml.parse_shipment_details(etree.tostring(root))
        except XmlDecodeError as exc:
            raise _MalformedAnswer(f"{call.op}: {exc}", status=answer.status, request_id=call.ref) from exc
        assert details is not None
        return details

    def parse_refund(self, answer: Answer, call: Call) -> RefundInfo:
        root_name = "shipment-refund-request-info" if self.contract else "non-contract-shipment-refund-request-info"
        ns = cpxml.NS_SHIPMENT if self.contract else cpxml.NS_NCSHIPMENT
        root = self.root(answer, call, root_name, ns)
        try:
            info, _ = cpxml.parse_refund_info(etree.tostring(root))
        except XmlDecodeError as exc:
            raise _MalformedAnswer(f"{call.op}: {exc}", status=answer.status, request_id=call.ref) from exc
        assert info is not None
        return info

    def parse_manifests(self, answer: Answer, call: Call) -> TransmitResult:
        root = self.root(answer, call, "manifests", cpxml.NS_MANIFEST)
        try:
            result, _ = cpxml.parse_manifests(etree.tostring(root))
        except XmlDecodeError as exc:
            raise _MalformedAnswer(f"{call.op}: {exc}", status=answer.status, request_id=call.ref) from exc
        assert result is not None
        return result


def short_ref(value: str | ShipmentInfo) -> str:
    """An id for logs: a shipment id, or the last path segments of a link (links carry no PII)."""
    if isinstance(value, ShipmentInfo):
        return value.shipment_id
    if "://" in value:
        return "/".join(urlsplit(value).path.rstrip("/").split("/")[-2:])
    return value


class XmlWire(Wire):
    def url(self, path: str) -> str:
        return self.config.base_url + path

    def shipments_url(self) -> str:
        return self.url(cpxml.shipments_path(self.s))

    def list_accept(self) -> str:
        return cpxml.shipment_media_type(self.s)

    def create(self, request: ShipmentRequest, group_id: str | None) -> Call:
        req = replace(request, group_id=group_id) if self.contract else request
        body = cpxml.to_bytes(cpxml.build_shipment(req, self.s))
        mt = cpxml.shipment_media_type(self.s)
        return Call("create_shipment", "POST", self.shipments_url(), "A", mt, mt, body,
                     ref=request.customer_request_id)

    def refund(self, shipment: str | ShipmentInfo, email: str) -> Call:
        body = cpxml.to_bytes(cpxml.build_refund_request(email, contract=self.contract))
        mt = cpxml.shipment_media_type(self.s)
        return Call("request_refund", "POST", self.refund_url(shipment), "B", mt, mt, body,
                     ref=short_ref(shipment))

    def manifests_url(self) -> str:
        return self.url(cpxml.manifest_path(self.s))

    def transmit(self, group_ids: list[str], customer_reference: str | None = None) -> Call:
        body = cpxml.to_bytes(cpmanifest.build_transmit_set(group_ids, self.s, customer_reference))
        return Call("transmit", "POST", self.manifests_url(), "C", cpxml.MT_MANIFEST,
                     cpxml.MT_MANIFEST, body, ref=",".join(group_ids))

    def track(self, pin: str) -> Call:
        return Call("track", "GET", self.url(cpxml.tracking_summary_path(pin)), "E", cpxml.MT_TRACK,
                     ref=pin)

    def messages(self, answer: Answer) -> list[CarrierMessage]:
        return cpxml.parse_messages(answer.body)

    def root(self, answer: Answer, call: Call, root: str, ns: str) -> etree._Element:
        try:
            el = cpxml.parse_xml(answer.body)
        except XmlDecodeError as exc:
            raise _MalformedAnswer(f"{call.op}: {exc}", status=answer.status, request_id=call.ref) from exc
        if etree.QName(el).localname != root:
            raise _MalformedAnswer(f"{call.op}: expected <{root}>, got <{etree.QName(el).localname}>",
                                   status=answer.status, request_id=call.ref)
        return el

    def parse_list(self, answer: Answer) -> list[str | ShipmentInfo]:
        try:
            items, _ = cpxml.parse_shipments(answer.body)
        except XmlDecodeError as exc:
            raise _MalformedAnswer(f"get_shipments: {exc}", status=answer.status) from exc
        return items

    def parse_tracking(self, answer: Answer, call: Call) -> TrackingSummary:
        try:
            summary, _ = cpxml.parse_tracking_summary(answer.body)
        except XmlDecodeError as exc:
            raise _MalformedAnswer(f"{call.op}: {exc}", status=answer.status, request_id=call.ref) from exc
        assert summary is not None
        return summary


class PortalWire(Wire):
    def url(self, path: str) -> str:
        return urljoin(self.config.base_url, path.lstrip("/"))

    def shipments_url(self) -> str:
        mb, mobo = self.s.customer_number, self.s.mobo
        return self.url(f"shipping/v1/{mb}/{mobo}/shipments")  # contract only (checked at config load)

    def list_accept(self) -> str:
        return cpjson.MT_JSON

    def create(self, request: ShipmentRequest, group_id: str | None) -> Call:
        req = replace(request, group_id=group_id) if self.contract else request
        body = cpjson.encode_request(cpxml.build_shipment(req, self.s))
        return Call("create_shipment", "POST", self.shipments_url(), "A", cpjson.MT_JSON, cpjson.MT_JSON,
                     body, ref=request.customer_request_id)

    def refund(self, shipment: str | ShipmentInfo, email: str) -> Call:
        body = cpjson.encode_request(cpxml.build_refund_request(email, contract=self.contract))
        return Call("request_refund", "POST", self.refund_url(shipment), "B", cpjson.MT_JSON,
                     cpjson.MT_JSON, body, ref=short_ref(shipment))

    def manifests_url(self) -> str:
        return self.url(f"shipping/v1/{self.s.customer_number}/{self.s.mobo}/manifests")

    def transmit(self, group_ids: list[str], customer_reference: str | None = None) -> Call:
        body = cpjson.encode_request(cpmanifest.build_transmit_set(group_ids, self.s, customer_reference))
        return Call("transmit", "POST", self.manifests_url(), "C", cpjson.MT_JSON, cpjson.MT_JSON, body,
                     ref=",".join(group_ids))

    def track(self, pin: str) -> Call:
        return Call("track", "GET", self.url(f"tracking/v1/pins/{pin}/summaries"), "E", cpjson.MT_JSON,
                     ref=pin)

    def messages(self, answer: Answer) -> list[CarrierMessage]:
        return cpjson.parse_messages(answer.body) or cpxml.parse_messages(answer.body)

    def _decode(self, answer: Answer, call: Call) -> Any:
        try:
            return cpjson.decode(answer.body)
        except XmlDecodeError as exc:
            raise _MalformedAnswer(f"{call.op}: {exc}", status=answer.status, request_id=call.ref) from exc

    def root(self, answer: Answer, call: Call, root: str, ns: str) -> etree._Element:
        obj = self._decode(answer, call)
        try:
            return cpjson.json_to_element(obj, root, ns)
        except XmlDecodeError as exc:
            raise _MalformedAnswer(f"{call.op}: {exc}", status=answer.status, request_id=call.ref) from exc

    def parse_list(self, answer: Answer) -> list[str | ShipmentInfo]:
        call = Call("get_shipments", "GET", "", "C", cpjson.MT_JSON)
        obj = self._decode(answer, call)
        try:
            root = cpjson.shipments_to_element(obj)
            items, _ = cpxml.parse_shipments(etree.tostring(root))
        except XmlDecodeError as exc:
            raise _MalformedAnswer(f"get_shipments: {exc}", status=answer.status) from exc
        return items

    def parse_tracking(self, answer: Answer, call: Call) -> TrackingSummary:
        obj = self._decode(answer, call)
        if isinstance(obj, list):
            obj = {"pinSummaries": obj}
        elif isinstance(obj, dict) and "pin" in obj:
            obj = {"pinSummaries": [obj]}
        try:
            root = cpjson.json_to_element(obj, "tracking-summary", cpxml.NS_TRACK)
            summary, _ = cpxml.parse_tracking_summary(etree.tostring(root))
        except XmlDecodeError as exc:
            raise _MalformedAnswer(f"{call.op}: {exc}", status=answer.status, request_id=call.ref) from exc
        assert summary is not None
        return summary


def artifact_complete(body: bytes, content_type: str) -> bool:
    """Whether an artifact ends the way its format must (PDF ``%%EOF``, ZPL ``^XZ``)."""
    tail = body[-2048:].rstrip()
    if content_type == cpxml.MT_PDF:
        return body.startswith(b"%PDF") and b"%%EOF" in tail
    if content_type == cpxml.MT_ZPL:
        return tail.upper().endswith(b"^XZ")
    return True


def shipment_ref(shipment: str | ShipmentInfo) -> str:
    return shipment.shipment_id if isinstance(shipment, ShipmentInfo) else shipment


def wire_for(config: CanadaPostSettings) -> Wire:
    """The wire of ``config``'s transport."""
    return PortalWire(config) if config.api == "portal" else XmlWire(config)
