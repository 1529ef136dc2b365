"""The Canada Post sandbox's route table, once for both flavours.

A :class:`RouteSpec` maps a method and a path pattern to an operation of
:class:`sandbox.canadapost.api.Operations`, with the endpoint name (faults, logs, counts) and the
documented throttle group (A-E). The contract-shipment and manifest routes are the same for the
XML gateway and the Developer Portal but for their paths, so :func:`contract_routes` builds them
for either: one fault on ``create_shipment`` covers both transports by construction.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from sandbox.canadapost.api import Codec, Filters, Operations
from sandbox.canadapost.wire import CPError
from sandbox.core import Request, Response

CUST = r"(?P<mailed_by>\d{1,10})"
MOBO = r"(?P<mobo>\d{1,10})"
ID = r"(?P<shipment_id>[0-9A-Za-z]{1,32})"
MID = r"(?P<manifest_id>[0-9A-Za-z]{1,32})"
#: An artifact's path parameters (after the flavour's artifacts prefix).
ARTIFACT = r"(?P<key>[0-9a-f]{1,32})/(?P<artifact_id>\d{1,20})/(?P<index>\d{1,3})"


@dataclass(frozen=True)
class RouteSpec:
    method: str
    pattern: re.Pattern[str]
    endpoint: str
    rate_group: str | None
    call: Callable[..., Response]  # (codec, req, **path params) -> Response


def path(template: str) -> re.Pattern[str]:
    """A route's pattern: the whole path, nothing before or after."""
    return re.compile("^" + template + "$")


def with_filters(
    op: Callable[..., Response], parse: Callable[[Request], Filters], error_media_type: str
) -> Callable[..., Response]:
    """A search operation called with the filters its flavour reads from the query string; a bad
    filter is answered in that flavour's error shape."""

    def call(codec: Codec, req: Request, **params: str) -> Response:
        try:
            filters = parse(req)
        except CPError as err:
            return codec.fail(err, error_media_type)
        return op(codec, req, filters=filters, **params)

    return call


def contract_routes(
    ops: Operations, *, shipments: str, groups: str, manifests: str, search: Callable[..., Response]
) -> list[RouteSpec]:
    """Contract shipments (create, search, get, void, details, price, refund), groups and manifests
    (transmit, list, get, details, shipments) under the flavour's ``shipments``/``manifests`` paths."""

    def list_manifests(codec: Codec, req: Request, **params: str) -> Response:
        return ops.get_manifests(codec, req, start=req.param("start") or "", end=req.param("end") or "", **params)

    return [
        RouteSpec("POST", path(shipments), "create_shipment", "A", ops.create_shipment),
        RouteSpec("GET", path(shipments), "get_shipments", "C", search),
        RouteSpec("GET", path(rf"{shipments}/{ID}"), "get_shipment", "A", ops.get_shipment),
        RouteSpec("DELETE", path(rf"{shipments}/{ID}"), "void_shipment", "B", ops.void_shipment),
        RouteSpec("GET", path(rf"{shipments}/{ID}/details"), "get_shipment_details", "A", ops.get_shipment_details),
        RouteSpec("GET", path(rf"{shipments}/{ID}/price"), "get_shipment_price", "A", ops.get_shipment_price),
        RouteSpec("POST", path(rf"{shipments}/{ID}/refund"), "refund_shipment", "B", ops.refund_shipment),
        RouteSpec("GET", path(groups), "get_groups", "C", ops.get_groups),
        RouteSpec("POST", path(manifests), "transmit_shipments", "C", ops.transmit_shipments),
        RouteSpec("GET", path(manifests), "get_manifests", "C", list_manifests),
        RouteSpec("GET", path(rf"{manifests}/{MID}"), "get_manifest", "C", ops.get_manifest),
        RouteSpec("GET", path(rf"{manifests}/{MID}/details"), "get_manifest_details", "C", ops.get_manifest_details),
        RouteSpec(
            "GET", path(rf"{manifests}/{MID}/shipments"), "get_manifest_shipments", "C", ops.get_manifest_shipments
        ),
    ]
