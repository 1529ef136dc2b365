"""The Canada Post wire (karrio style): each call built as a :class:`Call` and each answer parsed,
per transport, with no I/O. The hook (:mod:`~orderflow.hooks.canadapost`) sends the calls.

Two transports, chosen by the Connection (:class:`~orderflow.hooks.canadapost_settings.CanadaPostSettings`):

- ``xml`` (:class:`XmlWire`): the REST/XML gateway (``soa-gw``), bodies by
  :mod:`~orderflow.hooks.canadapost_xml`, HTTP Basic auth (the Developer Program key pair).
- ``portal`` (:class:`PortalWire`): the Developer Portal, the same documents as JSON by
  :mod:`~orderflow.hooks.canadapost_json` (which lists the JSON names and how sure each one is),
  OAuth 2 client credentials (client id = login, client secret = password) and bearer tokens.

An answer is read as an element either way (the portal's JSON is turned into the element the XML
answer would be) and the parsers of :mod:`~orderflow.hooks.canadapost_xml` read it once. A 2xx whose
body is not what the call returns raises ``_MalformedAnswer`` (retryable: a read is fetched again); an
error answer becomes the exception of :mod:`~orderflow.hooks.canadapost_errors` it stands for.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

from lxml import etree

from orderflow.hooks import canadapost_json as cpjson
from orderflow.hooks import canadapost_manifest as cpmanifest
from orderflow.hooks import canadapost_xml as cpxml
from orderflow.hooks._http import parse_retry_after
from orderflow.hooks.canadapost_errors import (
    CanadaPostAuthError,
    CanadaPostError,
    CanadaPostFieldMappingError,
    CanadaPostRetryableError,
    CanadaPostThrottledError,
    _ArtifactNotReady,
    _MalformedAnswer,
    exception_for,
)
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

# Tracking answers for a PIN with no scan yet (reference §6/§8).
NO_TRACKING_YET_CODES = frozenset({"004", "007"})

# The portal's token call asks for client-credentials tokens of the merchant scope.
TOKEN_FORM = {"grant_type": "client_credentials", "scope": "merchant"}


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
    headers: Mapping[str, str]


@contextmanager
def _decoding(answer: Answer, op: str, ref: str | None = None) -> Iterator[None]:
    """The codecs' ``XmlDecodeError`` (``JsonDecodeError`` included) as ``_MalformedAnswer``."""
    try:
        yield
    except XmlDecodeError as exc:
        raise _MalformedAnswer(f"{op}: {exc}", status=answer.status, request_id=ref) from exc


class Wire(abc.ABC):
    """What differs between the transports: URLs, media types, body codec, answer codec."""

    manifest_accept: str  # the media type of manifest reads

    def __init__(self, config: CanadaPostSettings) -> None:
        self.config = config
        self.s = config.shipper

    @property
    def contract(self) -> bool:
        return self.s.contract

    # each transport provides these
    @abc.abstractmethod
    def url(self, path: str) -> str:
        """The absolute URL of an API path."""

    @abc.abstractmethod
    def shipments_url(self) -> str:
        """Where shipments are created and listed."""

    @abc.abstractmethod
    def list_accept(self) -> str:
        """The media type of shipment reads."""

    @abc.abstractmethod
    def manifests_url(self) -> str:
        """Where groups are transmitted and manifests listed."""

    @abc.abstractmethod
    def encode(self, document: etree._Element) -> bytes:
        """A request document as this transport's body."""

    @abc.abstractmethod
    def body_type(self) -> str:
        """The media type of a request body (shipment documents)."""

    @abc.abstractmethod
    def track(self, pin: str) -> Call:
        """Tracking summary of a PIN."""

    @abc.abstractmethod
    def messages(self, answer: Answer) -> list[CarrierMessage]:
        """The carrier's messages of an error answer ([] when it has none)."""

    @abc.abstractmethod
    def root(self, answer: Answer, call: Call, root: str, ns: str) -> etree._Element:
        """A 2xx answer as the element ``root`` (``_MalformedAnswer`` when it is not one)."""

    @abc.abstractmethod
    def parse_list(self, answer: Answer, call: Call) -> list[str | ShipmentInfo]:
        """Get Shipments: hrefs, or shipment infos given inline. (Its malformed answers name no request.)"""

    @abc.abstractmethod
    def parse_tracking(self, answer: Answer, call: Call) -> TrackingSummary:
        """A tracking summary answer."""

    # calls
    def shipment_url(self, shipment: str | ShipmentInfo) -> str:
        if isinstance(shipment, ShipmentInfo):
            return shipment.self_link or f"{self.shipments_url()}/{shipment.shipment_id}"
        if "://" in shipment:
            return shipment
        return f"{self.shipments_url()}/{shipment}"

    def create(self, request: ShipmentRequest, group_id: str | None) -> Call:
        req = replace(request, group_id=group_id) if self.contract else request
        body = self.encode(cpxml.build_shipment(req, self.s))
        mt = self.body_type()
        return Call("create_shipment", "POST", self.shipments_url(), "A", mt, mt, body,
                    ref=request.customer_request_id)

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

    def refund(self, shipment: str | ShipmentInfo, email: str) -> Call:
        body = self.encode(cpxml.build_refund_request(email, contract=self.contract))
        mt = self.body_type()
        return Call("request_refund", "POST", self.refund_url(shipment), "B", mt, mt, body,
                    ref=short_ref(shipment))

    def transmit(self, group_ids: list[str], customer_reference: str | None = None) -> Call:
        body = self.encode(cpmanifest.build_transmit_set(group_ids, self.s, customer_reference))
        return Call("transmit", "POST", self.manifests_url(), "C", self.manifest_accept, self.manifest_accept,
                    body, ref=",".join(group_ids))

    def read_manifest(self, link: str | None, root: str, params: dict[str, str] | None = None) -> Call:
        """Get Manifests by date (``link`` None, ``params`` start/end), or a manifest read by link."""
        url = link if link and "://" in link else self.manifests_url()
        return Call(f"get_{root}", "GET", url, "C", self.manifest_accept, params=params, ref=short_ref(url))

    # answers
    def parse_shipment_info(self, answer: Answer, call: Call) -> ShipmentInfo:
        root_name = "shipment-info" if self.contract else "non-contract-shipment-info"
        root = self.root(answer, call, root_name, self._shipment_ns())
        with _decoding(answer, call.op, call.ref):
            return cpxml.shipment_info_from_element(root)

    def parse_details(self, answer: Answer, call: Call) -> ShipmentDetails:
        root_name = "shipment-details" if self.contract else "non-contract-shipment-details"
        root = self.root(answer, call, root_name, self._shipment_ns())
        with _decoding(answer, call.op, call.ref):
            return cpxml.shipment_details_from_element(root)

    def parse_refund(self, answer: Answer, call: Call) -> RefundInfo:
        root_name = "shipment-refund-request-info" if self.contract else "non-contract-shipment-refund-request-info"
        root = self.root(answer, call, root_name, self._shipment_ns())
        with _decoding(answer, call.op, call.ref):
            return cpxml.refund_info_from_element(root)

    def parse_manifests(self, answer: Answer, call: Call) -> TransmitResult:
        root = self.root(answer, call, "manifests", cpxml.NS_MANIFEST)
        with _decoding(answer, call.op, call.ref):
            return cpxml.manifests_from_element(root)

    def parse_label(self, answer: Answer, call: Call) -> tuple[bytes, str]:
        """The artifact as (bytes, content type). Only transport integrity here (the end marker of the
        format): an empty or cut-off artifact is fetched again, never handed on; orderflow.labels
        validates the label itself (pages, size, PIN)."""
        content_type = answer.content_type or call.accept
        if not answer.body or not artifact_complete(answer.body, content_type):
            raise _MalformedAnswer("label artifact empty or truncated", status=answer.status, request_id=call.ref)
        return answer.body, content_type

    def check(self, call: Call, answer: Answer, *, throttle_wait: float, artifact_wait: float) -> Answer:
        """``answer`` when it is a success; else raises what it stands for. A label's 202 ("not ready")
        waits at least ``artifact_wait``; a throttle at least ``throttle_wait`` (Canada Post blocks an
        over-limit key for up to a minute: never come back sooner)."""
        if answer.status == 202 and call.op == "get_label":
            wait = max(artifact_wait, parse_retry_after(answer.headers.get("Retry-After")) or 0.0)
            raise _ArtifactNotReady("label not ready yet (202)", status=202, request_id=call.ref, retry_after=wait)
        if 200 <= answer.status < 300:
            return answer
        messages = self.messages(answer)
        text = answer.body[:2048].decode("utf-8", "replace")
        cls = exception_for(answer.status, messages, text)
        retry_after = parse_retry_after(answer.headers.get("Retry-After"))
        summary = f"{call.op} failed"
        if cls is CanadaPostThrottledError:
            retry_after = max(retry_after or 0.0, throttle_wait)
            summary = f"{call.op} throttled (Rejected by SLM Monitor / 429)"
        elif self.config.api == "portal" and answer.status == 400 and cpjson.rejects_field_name(messages):
            cls = CanadaPostFieldMappingError
            summary = (
                f"{call.op}: the Developer Portal rejected a JSON field name; this may be an orderflow "
                "field-mapping problem (names derived from the XML v8 schema), not the seller's data"
            )
        err = cls(summary, status=answer.status, messages=messages, request_id=call.ref, body=text,
                  retry_after=retry_after)
        if issubclass(cls, CanadaPostAuthError):
            err.connection_hint = (f"Canada Post refused the credentials (HTTP {answer.status}): check the "
                                   "Connection's login / password and customer_number")
        elif answer.status in (404, 405) and not messages and not answer.content_type.endswith(("xml", "json")):
            # Canada Post's own "not found" carries its messages document; a bare page comes from another
            # server: the Connection's host is not the API's base URL.
            err.connection_hint = (f"HTTP {answer.status} from a server that is not Canada Post's API: check "
                                   "the Connection's host (base URL)")
        raise err

    def _shipment_ns(self) -> str:
        return cpxml.NS_SHIPMENT if self.contract else cpxml.NS_NCSHIPMENT


class XmlWire(Wire):
    manifest_accept = cpxml.MT_MANIFEST

    def url(self, path: str) -> str:
        return self.config.base_url + path

    def shipments_url(self) -> str:
        return self.url(cpxml.shipments_path(self.s))

    def list_accept(self) -> str:
        return cpxml.shipment_media_type(self.s)

    def manifests_url(self) -> str:
        return self.url(cpxml.manifest_path(self.s))

    def encode(self, document: etree._Element) -> bytes:
        return cpxml.to_bytes(document)

    def body_type(self) -> str:
        return cpxml.shipment_media_type(self.s)

    def track(self, pin: str) -> Call:
        return Call("track", "GET", self.url(cpxml.tracking_summary_path(pin)), "E", cpxml.MT_TRACK, ref=pin)

    def messages(self, answer: Answer) -> list[CarrierMessage]:
        return cpxml.parse_messages(answer.body)

    def root(self, answer: Answer, call: Call, root: str, ns: str) -> etree._Element:
        with _decoding(answer, call.op, call.ref):
            el = cpxml.parse_xml(answer.body)
        if etree.QName(el).localname != root:
            raise _MalformedAnswer(f"{call.op}: expected <{root}>, got <{etree.QName(el).localname}>",
                                   status=answer.status, request_id=call.ref)
        return el

    def parse_list(self, answer: Answer, call: Call) -> list[str | ShipmentInfo]:
        with _decoding(answer, "get_shipments"):
            items, _ = cpxml.parse_shipments(answer.body)  # a <messages> document lists nothing
        return items

    def parse_tracking(self, answer: Answer, call: Call) -> TrackingSummary:
        with _decoding(answer, call.op, call.ref):
            summary, _ = cpxml.parse_tracking_summary(answer.body)
        assert summary is not None
        return summary


class PortalWire(Wire):
    manifest_accept = cpjson.MT_JSON

    def url(self, path: str) -> str:
        return urljoin(self.config.base_url, path.lstrip("/"))

    def shipments_url(self) -> str:
        mb, mobo = self.s.customer_number, self.s.mobo
        return self.url(f"shipping/v1/{mb}/{mobo}/shipments")  # contract only (checked at config load)

    def list_accept(self) -> str:
        return cpjson.MT_JSON

    def manifests_url(self) -> str:
        return self.url(f"shipping/v1/{self.s.customer_number}/{self.s.mobo}/manifests")

    def encode(self, document: etree._Element) -> bytes:
        return cpjson.encode_request(document)

    def body_type(self) -> str:
        return cpjson.MT_JSON

    def track(self, pin: str) -> Call:
        return Call("track", "GET", self.url(f"tracking/v1/pins/{pin}/summaries"), "E", cpjson.MT_JSON, ref=pin)

    def messages(self, answer: Answer) -> list[CarrierMessage]:
        return cpjson.parse_messages(answer.body) or cpxml.parse_messages(answer.body)

    def root(self, answer: Answer, call: Call, root: str, ns: str) -> etree._Element:
        with _decoding(answer, call.op, call.ref):
            return cpjson.json_to_element(cpjson.decode(answer.body), root, ns)

    def parse_list(self, answer: Answer, call: Call) -> list[str | ShipmentInfo]:
        with _decoding(answer, "get_shipments"):
            return cpxml.shipments_from_element(cpjson.shipments_to_element(cpjson.decode(answer.body)))

    def parse_tracking(self, answer: Answer, call: Call) -> TrackingSummary:
        with _decoding(answer, call.op, call.ref):
            obj = cpjson.decode(answer.body)
            if isinstance(obj, list):
                obj = {"pinSummaries": obj}
            elif isinstance(obj, dict) and "pin" in obj:
                obj = {"pinSummaries": [obj]}
            return cpxml.tracking_summary_from_element(cpjson.json_to_element(obj, "tracking-summary", cpxml.NS_TRACK))

    # the token endpoint (OAuth 2 client credentials: TOKEN_FORM)
    def token_credentials(self) -> tuple[dict[str, str], tuple[str, str] | None]:
        """(headers, HTTP Basic auth or None) of the token call, as ``portal_auth`` says."""
        config = self.config
        headers = {"Accept": "application/json"}
        if config.portal_auth in ("both", "headers"):
            headers["X-IBM-Client-Id"] = config.login
            headers["X-IBM-Client-Secret"] = config.password
        auth = (config.login, config.password) if config.portal_auth in ("both", "basic") else None
        return headers, auth

    def token_refused(self, status: int, body: bytes, headers: Mapping[str, str]) -> CanadaPostError:
        """The error of a token call answered with anything but 200."""
        messages = cpjson.parse_messages(body)
        text = body[:2048].decode("utf-8", "replace")
        cls = exception_for(status, messages, text)
        if not issubclass(cls, CanadaPostRetryableError):
            # Any refusal of the token request (a wrong URL's 404 included) is about the Connection:
            # no order can be at fault for it.
            cls = CanadaPostAuthError
        err = cls("token request refused", status=status, messages=messages, body=text,
                  retry_after=parse_retry_after(headers.get("Retry-After")))
        if cls is CanadaPostAuthError:
            what = ("the client id / secret (login / password)" if status in (400, 401, 403)
                    else "the host (base URL) or token_url")
            err.connection_hint = (f"the token endpoint {self.config.token_url} answered HTTP {status}: "
                                   f"check the Connection's {what}")
        return err


def parse_token(read_json: Callable[[], Any]) -> tuple[str, float]:
    """(access token, seconds it lives) of a 200 token answer, whose JSON ``read_json`` reads."""
    try:
        obj = read_json()
        return str(obj["access_token"]), float(obj.get("expires_in") or 3600)
    except (ValueError, KeyError, TypeError) as exc:
        raise _MalformedAnswer("token answer is not a token") from exc


def artifact_complete(body: bytes, content_type: str) -> bool:
    """Whether an artifact ends the way its format must (PDF ``%%EOF``, ZPL ``^XZ``)."""
    tail = body[-2048:].rstrip()
    if content_type == cpxml.MT_PDF:
        return body.startswith(b"%PDF") and b"%%EOF" in tail
    if content_type == cpxml.MT_ZPL:
        return tail.upper().endswith(b"^XZ")
    return True


def short_ref(value: str | ShipmentInfo) -> str:
    """An id for logs: a shipment id, or the last path segments of a link (links carry no PII)."""
    if isinstance(value, ShipmentInfo):
        return value.shipment_id
    if "://" in value:
        return "/".join(urlsplit(value).path.rstrip("/").split("/")[-2:])
    return value


def shipment_ref(shipment: str | ShipmentInfo) -> str:
    return shipment.shipment_id if isinstance(shipment, ShipmentInfo) else shipment


def wire_for(config: CanadaPostSettings) -> Wire:
    """The wire of ``config``'s transport."""
    return PortalWire(config) if config.api == "portal" else XmlWire(config)
