"""The Canada Post operations, once for both flavours.

A :class:`Codec` knows one wire format (XML gateway or Developer Portal JSON): content negotiation,
reading and validating a request body into the v8/v4 XML tree, writing a response tree, rendering
errors and links. The operations here know the rules and never the format, so "a shipment created
via JSON is found via XML" holds by construction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from lxml import etree

from sandbox.canadapost import label, render
from sandbox.canadapost.state import CONTRACT, EASTERN, NONCONTRACT, Manifest, Shipment, Store
from sandbox.canadapost.wire import (
    CODE_SERVER,
    MT_MANIFEST,
    MT_NCSHIPMENT,
    MT_PDF,
    MT_SHIPMENT,
    MT_TRACK,
    MT_ZPL,
    NS_MANIFEST,
    NS_NCSHIPMENT,
    NS_SHIPMENT,
    CPError,
    Message,
    media_type_of,
)
from sandbox.core import Request, Response


class ServiceOptions(Protocol):
    """What the operations read from the service: its state and the options ``/__admin/configure``
    changes at run time (read at each call, never copied). ``CanadaPostService`` provides them; the
    operations do not know the service, so the routes that call them do not import it either."""

    store: Store
    contract_id: str | None
    require_dimensions: bool
    artifact_not_ready_first: bool
    artifact_retry_min_s: float


class Codec(Protocol):
    flavour: str
    urls: render.Urls

    def check(self, req: Request, media_type: str, *, body: bool) -> None: ...

    def read(self, req: Request, namespace: str, root: str) -> etree._Element: ...

    def ok(self, status: int, doc: etree._Element, media_type: str) -> Response: ...

    def fail(self, err: CPError, media_type: str) -> Response: ...


@dataclass
class Filters:
    request_id: str | None = None
    pin: str | None = None
    group_id: str | None = None
    no_manifest_date: dt.date | None = None
    window: tuple[dt.datetime, dt.datetime] | None = None


def accepted_types(req: Request) -> list[str]:
    header = req.header("Accept") or ""
    return [media_type_of(part) for part in header.split(",") if part.strip()]


def parse_date(text: str, what: str) -> dt.date:
    try:
        return dt.datetime.strptime(text, "%Y%m%d").date()
    except ValueError as exc:
        raise CPError.one(400, CODE_SERVER, f"{what} must be YYYYMMDD, got '{text}'.") from exc


def parse_eastern_minute(text: str, what: str) -> dt.datetime:
    """NC Get Shipments windows are ``YYYYMMDDHHMM`` in Eastern time (per the sheet)."""
    try:
        return dt.datetime.strptime(text, "%Y%m%d%H%M").replace(tzinfo=EASTERN)
    except ValueError as exc:
        raise CPError.one(400, CODE_SERVER, f"{what} must be YYYYMMDDHHMM (Eastern time), got '{text}'.") from exc


def guarded(fn: Callable[..., Response]) -> Callable[..., Response]:
    """Turn a CPError raised by an operation into the codec's error shape."""

    def wrapper(self: Operations, codec: Codec, req: Request, *args: str, **kwargs: object) -> Response:
        try:
            return fn(self, codec, req, *args, **kwargs)
        except CPError as err:
            return codec.fail(err, _error_media_type(fn.__name__))

    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper


def _error_media_type(op: str) -> str:
    if "nc_" in op:
        return MT_NCSHIPMENT
    if "manifest" in op or "transmit" in op:
        return MT_MANIFEST
    if "track" in op:
        return MT_TRACK
    return MT_SHIPMENT


class Operations:
    def __init__(self, service: ServiceOptions) -> None:
        self.service = service

    @property
    def store(self) -> Store:
        return self.service.store

    # -- contract shipments ----------------------------------------------------------------

    @guarded
    def create_shipment(self, codec: Codec, req: Request, mailed_by: str, mobo: str) -> Response:
        codec.check(req, MT_SHIPMENT, body=True)
        doc = codec.read(req, NS_SHIPMENT, "shipment")
        sh = self.store.create_shipment(
            doc,
            kind=CONTRACT,
            flavour=codec.flavour,
            mailed_by=mailed_by,
            mobo=mobo,
            contract_id=self.service.contract_id,
            require_dimensions=self.service.require_dimensions,
            hidden_for_s=req.visibility_delay_s,
        )
        return codec.ok(200, render.shipment_info(sh, codec.urls, include_price=sh.provide_pricing_info), MT_SHIPMENT)

    @guarded
    def get_shipments(self, codec: Codec, req: Request, mailed_by: str, mobo: str, filters: Filters) -> Response:
        codec.check(req, MT_SHIPMENT, body=False)
        if not (filters.request_id or filters.pin or filters.group_id or filters.no_manifest_date):
            raise CPError.one(
                400, CODE_SERVER, "One of requestId, trackingPIN, groupId or noManifest=true&date= is required."
            )
        found = self.store.search(
            CONTRACT,
            mailed_by,
            mobo,
            request_id=filters.request_id,
            pin=filters.pin,
            group_id=filters.group_id,
            no_manifest_date=filters.no_manifest_date,
        )
        return codec.ok(200, render.shipment_links(CONTRACT, found, codec.urls), MT_SHIPMENT)

    @guarded
    def get_shipment(self, codec: Codec, req: Request, mailed_by: str, mobo: str, shipment_id: str) -> Response:
        codec.check(req, MT_SHIPMENT, body=False)
        sh = self.store.get(shipment_id, CONTRACT, mailed_by, mobo)
        # Get Shipment repeats the create answer, price included when it was asked for.
        return codec.ok(200, render.shipment_info(sh, codec.urls, include_price=sh.provide_pricing_info), MT_SHIPMENT)

    @guarded
    def get_shipment_details(self, codec: Codec, req: Request, mailed_by: str, mobo: str, shipment_id: str) -> Response:
        codec.check(req, MT_SHIPMENT, body=False)
        sh = self.store.get(shipment_id, CONTRACT, mailed_by, mobo)
        return codec.ok(200, render.shipment_details(sh), MT_SHIPMENT)

    @guarded
    def get_shipment_price(self, codec: Codec, req: Request, mailed_by: str, mobo: str, shipment_id: str) -> Response:
        codec.check(req, MT_SHIPMENT, body=False)
        sh = self.store.get(shipment_id, CONTRACT, mailed_by, mobo)
        return codec.ok(200, render.shipment_price(sh), MT_SHIPMENT)

    @guarded
    def void_shipment(self, codec: Codec, req: Request, mailed_by: str, mobo: str, shipment_id: str) -> Response:
        codec.check(req, MT_SHIPMENT, body=False)
        with self.store.lock:
            sh = self.store.get(shipment_id, CONTRACT, mailed_by, mobo)
            self.store.void(sh)
        return Response(204, b"", {})

    @guarded
    def refund_shipment(self, codec: Codec, req: Request, mailed_by: str, mobo: str, shipment_id: str) -> Response:
        codec.check(req, MT_SHIPMENT, body=True)
        with self.store.lock:
            sh = self.store.get(shipment_id, CONTRACT, mailed_by, mobo)
            doc = codec.read(req, NS_SHIPMENT, "shipment-refund-request")
            email = doc.findtext(f"{{{NS_SHIPMENT}}}email") or ""
            self.store.refund(sh, email)
            return codec.ok(200, render.refund_info(sh), MT_SHIPMENT)

    @guarded
    def get_groups(self, codec: Codec, req: Request, mailed_by: str, mobo: str) -> Response:
        codec.check(req, MT_SHIPMENT, body=False)
        return codec.ok(
            200, render.groups(self.store.groups(mailed_by, mobo), mailed_by, mobo, codec.urls), MT_SHIPMENT
        )

    # -- manifests -----------------------------------------------------------------------

    @guarded
    def transmit_shipments(self, codec: Codec, req: Request, mailed_by: str, mobo: str) -> Response:
        codec.check(req, MT_MANIFEST, body=True)
        doc = codec.read(req, NS_MANIFEST, "transmit-set")
        made = self.store.transmit(doc, flavour=codec.flavour, mailed_by=mailed_by, mobo=mobo)
        return codec.ok(200, render.manifests(made, codec.urls), MT_MANIFEST)

    @guarded
    def get_manifests(self, codec: Codec, req: Request, mailed_by: str, mobo: str, start: str, end: str) -> Response:
        codec.check(req, MT_MANIFEST, body=False)
        first = parse_date(start, "start")
        last = parse_date(end, "end") if end else first
        with self.store.lock:
            found = [
                m
                for m in self.store.manifests.values()
                if m.mailed_by.lstrip("0") == mailed_by.lstrip("0")
                and first <= dt.datetime.fromtimestamp(m.created_at, EASTERN).date() <= last
            ]
        found.sort(key=lambda m: m.created_at)
        return codec.ok(200, render.manifests(found, codec.urls), MT_MANIFEST)

    @guarded
    def get_manifest(self, codec: Codec, req: Request, mailed_by: str, mobo: str, manifest_id: str) -> Response:
        codec.check(req, MT_MANIFEST, body=False)
        m = self.store.get_manifest(manifest_id, mailed_by, mobo)
        return codec.ok(200, render.manifest(m, codec.urls), MT_MANIFEST)

    @guarded
    def get_manifest_details(self, codec: Codec, req: Request, mailed_by: str, mobo: str, manifest_id: str) -> Response:
        codec.check(req, MT_MANIFEST, body=False)
        m = self.store.get_manifest(manifest_id, mailed_by, mobo)
        doc = render.manifest_details(m, self._manifest_shipments(m), self.service.contract_id)
        return codec.ok(200, doc, MT_MANIFEST)

    @guarded
    def get_manifest_shipments(
        self, codec: Codec, req: Request, mailed_by: str, mobo: str, manifest_id: str
    ) -> Response:
        codec.check(req, MT_MANIFEST, body=False)
        m = self.store.get_manifest(manifest_id, mailed_by, mobo)
        return codec.ok(200, render.manifest_shipments(self._manifest_shipments(m), codec.urls), MT_MANIFEST)

    def _manifest_shipments(self, m: Manifest) -> list[Shipment]:
        with self.store.lock:
            return [self.store.shipments[sid] for sid in m.shipment_ids if sid in self.store.shipments]

    # -- non-contract shipments ----------------------------------------------------------

    @guarded
    def create_nc_shipment(self, codec: Codec, req: Request, mailed_by: str) -> Response:
        codec.check(req, MT_NCSHIPMENT, body=True)
        doc = codec.read(req, NS_NCSHIPMENT, "non-contract-shipment")
        sh = self.store.create_shipment(
            doc,
            kind=NONCONTRACT,
            flavour=codec.flavour,
            mailed_by=mailed_by,
            mobo=mailed_by,
            contract_id=None,
            require_dimensions=self.service.require_dimensions,
            hidden_for_s=req.visibility_delay_s,
        )
        return codec.ok(200, render.shipment_info(sh, codec.urls, include_price=False), MT_NCSHIPMENT)

    @guarded
    def get_nc_shipments(self, codec: Codec, req: Request, mailed_by: str, filters: Filters) -> Response:
        codec.check(req, MT_NCSHIPMENT, body=False)
        if not (filters.pin or filters.window):
            raise CPError.one(400, CODE_SERVER, "Either from and to (YYYYMMDDHHMM) or trackingPIN is required.")
        found = self.store.search(NONCONTRACT, mailed_by, pin=filters.pin, window=filters.window)
        return codec.ok(200, render.shipment_links(NONCONTRACT, found, codec.urls), MT_NCSHIPMENT)

    @guarded
    def get_nc_shipment(self, codec: Codec, req: Request, mailed_by: str, shipment_id: str) -> Response:
        codec.check(req, MT_NCSHIPMENT, body=False)
        sh = self.store.get(shipment_id, NONCONTRACT, mailed_by, None)
        return codec.ok(200, render.shipment_info(sh, codec.urls, include_price=False), MT_NCSHIPMENT)

    @guarded
    def get_nc_shipment_details(self, codec: Codec, req: Request, mailed_by: str, shipment_id: str) -> Response:
        codec.check(req, MT_NCSHIPMENT, body=False)
        sh = self.store.get(shipment_id, NONCONTRACT, mailed_by, None)
        return codec.ok(200, render.shipment_details(sh), MT_NCSHIPMENT)

    @guarded
    def refund_nc_shipment(self, codec: Codec, req: Request, mailed_by: str, shipment_id: str) -> Response:
        codec.check(req, MT_NCSHIPMENT, body=True)
        with self.store.lock:
            sh = self.store.get(shipment_id, NONCONTRACT, mailed_by, None)
            doc = codec.read(req, NS_NCSHIPMENT, "non-contract-shipment-refund-request")
            email = doc.findtext(f"{{{NS_NCSHIPMENT}}}email") or ""
            self.store.refund(sh, email)
            return codec.ok(200, render.refund_info(sh), MT_NCSHIPMENT)

    # -- artifacts -----------------------------------------------------------------------

    @guarded
    def get_artifact(self, codec: Codec, req: Request, key: str, artifact_id: str, index: str) -> Response:
        """Label (PDF or ZPL by Accept) or manifest PDF; optionally 202 until the label is ready."""
        accepts = accepted_types(req)
        target = self.store.find_artifact(key, artifact_id)
        if target is None or index != "0":
            raise CPError(404, [])
        if isinstance(target, Manifest):
            if MT_PDF not in accepts:
                raise CPError.one(406, CODE_SERVER, f"Accept must be {MT_PDF} for a manifest.")
            body = label.manifest_pdf(target, self._manifest_shipments(target))
            return Response(200, body, {"Content-Type": MT_PDF})
        sh = target
        if MT_PDF in accepts:
            wanted = MT_PDF
        elif MT_ZPL in accepts:
            wanted = MT_ZPL
        else:
            raise CPError.one(406, CODE_SERVER, f"Accept must be {MT_PDF} or {MT_ZPL} for a label.")
        with self.store.lock:
            now = self.store.now()
            if self.service.artifact_not_ready_first:
                if sh.first_label_fetch_at is None:
                    sh.first_label_fetch_at = now
                    return self._not_ready(codec)
                if now - sh.first_label_fetch_at < self.service.artifact_retry_min_s:
                    # A client that retries sooner than the documented >= 1 s still waits.
                    return self._not_ready(codec)
            elif sh.first_label_fetch_at is None:
                sh.first_label_fetch_at = now
            sh.label_fetches += 1
        body = label.label_pdf(sh) if wanted == MT_PDF else label.label_zpl(sh)
        return Response(200, body, {"Content-Type": wanted})

    def _not_ready(self, codec: Codec) -> Response:
        err = CPError.one(202, CODE_SERVER, "The artifact is not ready yet; retry after at least 1 second.")
        return codec.fail(err, MT_SHIPMENT)

    # -- tracking ------------------------------------------------------------------------

    @guarded
    def track_summary(self, codec: Codec, req: Request, pin: str) -> Response:
        codec.check(req, MT_TRACK, body=False)
        sh = self.store.by_pin(pin)
        events = self.store.events(sh) if sh is not None else []
        if sh is None or not events:
            # Unknown PIN, and also a parcel not scanned yet (conservative: the client must treat
            # "no history yet" as normal, not as an error).
            raise CPError(404, [Message("004", "No Pin History")])
        return codec.ok(200, render.tracking_summary(sh, events), MT_TRACK)
