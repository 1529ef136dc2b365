"""The legacy XML gateway (``soa-gw``): ``/rs/...`` and ``/vis/track/...`` with HTTP Basic auth.

Content negotiation is exact, as the sheet says: the versioned ``Accept`` (and ``Content-Type`` on
a POST) must name the call's media type; ``*/*`` is rejected. 406/415 for those are the public
client code's status list; the gateway's exact wording is unconfirmed.
"""

from __future__ import annotations

from lxml import etree

from sandbox.canadapost import render
from sandbox.canadapost.api import Filters, Operations, accepted_types, parse_date, parse_eastern_minute
from sandbox.canadapost.routes import ARTIFACT, CUST, ID, MOBO, RouteSpec, contract_routes, path, with_filters
from sandbox.canadapost.wire import (
    CODE_SERVER,
    MT_SHIPMENT,
    CPError,
    Message,
    media_type_of,
    messages_xml,
    parse_xml,
    to_bytes,
    violations,
)
from sandbox.core import Request, Response

MAX_SCHEMA_MESSAGES = 10


class XmlCodec:
    flavour = "xml"

    def __init__(self, base_url: str) -> None:
        self.urls: render.Urls = render.XmlUrls(base_url)

    def check(self, req: Request, media_type: str, *, body: bool) -> None:
        if media_type not in accepted_types(req):
            raise CPError.one(
                406,
                CODE_SERVER,
                f"Accept header must be '{media_type}' (got '{req.header('Accept') or ''}').",
            )
        if body and media_type_of(req.header("Content-Type")) != media_type:
            raise CPError.one(
                415,
                CODE_SERVER,
                f"Content-Type header must be '{media_type}' (got '{req.header('Content-Type') or ''}').",
            )

    def read(self, req: Request, namespace: str, root: str) -> etree._Element:
        doc = parse_xml(req.body)
        problems = violations(doc, namespace, root)
        if problems:
            # Like the real gateway: the request path, then the validator's message.
            raise CPError(400, [Message(CODE_SERVER, f"{req.path}: {p.text}") for p in problems[:MAX_SCHEMA_MESSAGES]])
        return doc

    def ok(self, status: int, doc: etree._Element, media_type: str) -> Response:
        return Response(status, to_bytes(doc), {"Content-Type": media_type})

    def fail(self, err: CPError, media_type: str) -> Response:
        return Response(err.status, messages_xml(err.messages), {"Content-Type": media_type, **err.headers})


def _shipment_filters(req: Request) -> Filters:
    date = req.param("date")
    no_manifest = (req.param("noManifest") or "").lower() == "true"
    if no_manifest and not date:
        raise CPError.one(400, CODE_SERVER, "noManifest=true needs date=YYYYMMDD.")
    return Filters(
        request_id=req.param("requestId"),
        pin=req.param("trackingPIN"),
        group_id=req.param("groupId"),
        no_manifest_date=parse_date(date, "date") if no_manifest and date else None,
    )


def _nc_filters(req: Request) -> Filters:
    start, end = req.param("from"), req.param("to")
    window = None
    if start or end:
        if not (start and end):
            raise CPError.one(400, CODE_SERVER, "Both from and to (YYYYMMDDHHMM, Eastern time) are required.")
        window = (parse_eastern_minute(start, "from"), parse_eastern_minute(end, "to"))
    return Filters(pin=req.param("trackingPIN"), window=window)


def xml_routes(ops: Operations) -> list[RouteSpec]:
    """Endpoint names follow Canada Post's service names; rate groups are the documented A-E."""
    nc = rf"/rs/{CUST}/ncshipment"
    return [
        *contract_routes(
            ops,
            shipments=rf"/rs/{CUST}/{MOBO}/shipment",
            groups=rf"/rs/{CUST}/{MOBO}/group",
            manifests=rf"/rs/{CUST}/{MOBO}/manifest",
            search=with_filters(ops.get_shipments, _shipment_filters, MT_SHIPMENT),
        ),
        RouteSpec("GET", path(rf"/rs/artifact/{ARTIFACT}"), "get_artifact", "A", ops.get_artifact),
        RouteSpec("POST", path(nc), "create_nc_shipment", "A", ops.create_nc_shipment),
        RouteSpec(
            "GET", path(nc), "get_nc_shipments", "C", with_filters(ops.get_nc_shipments, _nc_filters, MT_SHIPMENT)
        ),
        RouteSpec("GET", path(rf"{nc}/{ID}"), "get_nc_shipment", "A", ops.get_nc_shipment),
        RouteSpec("GET", path(rf"{nc}/{ID}/details"), "get_nc_shipment_details", "A", ops.get_nc_shipment_details),
        RouteSpec("POST", path(rf"{nc}/{ID}/refund"), "refund_nc_shipment", "B", ops.refund_nc_shipment),
        RouteSpec(
            "GET", path(r"/vis/track/pin/(?P<pin>[0-9A-Za-z]{1,20})/summary"), "track_summary", "E", ops.track_summary
        ),
    ]
