"""The Developer Portal flavour: OAuth 2 client credentials + JSON, on the same state as the XML one.

Base ``https://api.canadapost-postescanada.ca/prod/devportal-portaildesdeveloppeurs/`` (the prefix
is configurable); token at ``cpc-api-native-oauth-provider/oauth2/token``; shipping under
``shipping/v1/{mailedBy}/{mobo}/``; tracking ``tracking/v1/pins/{pin}/summaries``. Every JSON body
is converted to the XML v8 tree and validated by the same XSD as the XML gateway
(:mod:`sandbox.canadapost.jsonxml` lists the derived naming rules).

Unconfirmed, and how the sandbox chose:
- client id/secret: accepted as ``X-IBM-Client-Id``/``X-IBM-Client-Secret`` headers (IBM API
  Connect's convention, used by the public integrations), as HTTP Basic, or as form fields
  ``client_id``/``client_secret``; any one suffices, and two that disagree are refused;
- ``scope=merchant`` and ``grant_type=client_credentials`` are required (no default scope);
- token errors use the OAuth 2 (RFC 6749) shape ``{"error", "error_description"}``; a missing or
  expired Bearer gets 401 with API Connect's ``httpCode/httpMessage/moreInformation`` plus the
  ``messages`` array every other portal error carries;
- ``GET shipments?customerRequestId=`` is derived from the XML ``?requestId=`` (``requestId`` is
  accepted too), as are ``trackingPin`` (``trackingPIN`` too) and ``groupId``;
- Accept and Content-Type must be ``application/json`` (artifacts: ``application/pdf`` or
  ``application/zpl``);
- the same rate groups (A-E) as the XML gateway: the sheet only says "per product".
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
from decimal import Decimal
from urllib.parse import parse_qs

from lxml import etree

from sandbox.canadapost import render
from sandbox.canadapost.api import Filters, Operations, accepted_types, parse_date
from sandbox.canadapost.jsonxml import JsonDocument, JsonMappingError, xml_to_json
from sandbox.canadapost.routes import ARTIFACT, CUST, MOBO, RouteSpec, contract_routes, path, with_filters
from sandbox.canadapost.wire import CODE_SERVER, MT_JSON, CPError, Message, media_type_of, violations
from sandbox.core import Request, Response, json_response

TOKEN_PATH = "/cpc-api-native-oauth-provider/oauth2/token"
MAX_SCHEMA_MESSAGES = 10


def messages_json(messages: list[Message]) -> dict:
    return {"messages": [{"code": m.code, "description": m.description} for m in messages]}


class JsonCodec:
    flavour = "portal"

    def __init__(self, base_url: str) -> None:
        self.urls: render.Urls = render.PortalUrls(base_url)

    def check(self, req: Request, media_type: str, *, body: bool) -> None:
        if MT_JSON not in accepted_types(req):
            raise CPError.one(
                406, CODE_SERVER, f"Accept header must be '{MT_JSON}' (got '{req.header('Accept') or ''}')."
            )
        if body and media_type_of(req.header("Content-Type")) != MT_JSON:
            raise CPError.one(
                415, CODE_SERVER, f"Content-Type header must be '{MT_JSON}' (got '{req.header('Content-Type') or ''}')."
            )

    def read(self, req: Request, namespace: str, root: str) -> etree._Element:
        try:
            obj = json.loads(req.body.decode("utf-8"), parse_float=Decimal)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CPError.one(400, CODE_SERVER, f"The request body is not valid JSON: {exc}") from exc
        try:
            doc = JsonDocument(obj, namespace, root)
        except JsonMappingError as exc:
            raise CPError(400, exc.messages) from exc
        problems = violations(doc.root, namespace, root)
        if problems:
            raise CPError(400, [doc.describe(p) for p in problems[:MAX_SCHEMA_MESSAGES]])
        return doc.root

    def ok(self, status: int, doc: etree._Element, media_type: str) -> Response:
        return json_response(status, xml_to_json(doc))

    def fail(self, err: CPError, media_type: str) -> Response:
        return json_response(err.status, messages_json(err.messages), err.headers)


# -- OAuth ------------------------------------------------------------------------------------


def oauth_error(status: int, error: str, description: str) -> Response:
    headers = {"Cache-Control": "no-store", "Pragma": "no-cache"}
    if status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="cpc-api-native-oauth-provider"'
    return json_response(status, {"error": error, "error_description": description}, headers)


def _basic(req: Request) -> tuple[str, str] | None:
    header = req.header("Authorization") or ""
    if not header.lower().startswith("basic "):
        return None
    try:
        user, _, password = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return ("", "")
    return user, password


def client_credentials(req: Request) -> list[tuple[str, str]]:
    """Every (client id, secret) pair the token request carries, wherever it put them."""
    found: list[tuple[str, str]] = []
    header_id, header_secret = req.header("X-IBM-Client-Id"), req.header("X-IBM-Client-Secret")
    if header_id is not None or header_secret is not None:
        found.append((header_id or "", header_secret or ""))
    basic = _basic(req)
    if basic is not None:
        found.append(basic)
    form = form_fields(req)
    if "client_id" in form or "client_secret" in form:
        found.append((form.get("client_id", ""), form.get("client_secret", "")))
    return found


def form_fields(req: Request) -> dict[str, str]:
    if media_type_of(req.header("Content-Type")) != "application/x-www-form-urlencoded":
        return {}
    try:
        parsed = parse_qs(req.body.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        return {}
    return {k: v[0] for k, v in parsed.items() if v}


def check_client(req: Request, client_id: str, client_secret: str) -> Response | None:
    pairs = client_credentials(req)
    if not pairs:
        return oauth_error(
            401, "invalid_client", "Client authentication is required (X-IBM-Client-Id/Secret or Basic)."
        )
    for cid, secret in pairs:
        if not (hmac.compare_digest(cid, client_id) and hmac.compare_digest(secret, client_secret)):
            return oauth_error(401, "invalid_client", "Client authentication failed.")
    return None


def bearer_token(req: Request) -> str | None:
    header = req.header("Authorization") or ""
    if header[:7].lower() != "bearer ":
        return None
    return header[7:].strip() or None


def unauthorized(description: str) -> Response:
    body = {
        "httpCode": "401",
        "httpMessage": "Unauthorized",
        "moreInformation": "Cannot pass the security checks that are required by the target API or operation.",
        **messages_json([Message("401", description)]),
    }
    return json_response(401, body, {"WWW-Authenticate": 'Bearer error="invalid_token"'})


# -- routes -----------------------------------------------------------------------------------


def _filters(req: Request) -> Filters:
    date = req.param("date")
    no_manifest = (req.param("noManifest") or "").lower() == "true"
    if no_manifest and not date:
        raise CPError.one(400, CODE_SERVER, "noManifest=true needs date=YYYYMMDD.")
    return Filters(
        request_id=req.param("customerRequestId") or req.param("requestId"),
        pin=req.param("trackingPin") or req.param("trackingPIN"),
        group_id=req.param("groupId"),
        no_manifest_date=parse_date(date, "date") if no_manifest and date else None,
    )


def portal_routes(ops: Operations, service_token: object) -> list[RouteSpec]:
    """Routes relative to the portal prefix; same endpoint names and rate groups as the XML ones,
    so one fault setting (e.g. commit-then-drop on ``create_shipment``) covers both transports."""
    base = rf"/shipping/v1/{CUST}/{MOBO}"
    return [
        RouteSpec("POST", path(re.escape(TOKEN_PATH)), "oauth_token", None, service_token),  # type: ignore[arg-type]
        *contract_routes(
            ops,
            shipments=rf"{base}/shipments",
            groups=rf"{base}/groups",
            manifests=rf"{base}/manifests",
            search=with_filters(ops.get_shipments, _filters, MT_JSON),
        ),
        RouteSpec("GET", path(rf"/shipping/v1/artifacts/{ARTIFACT}"), "get_artifact", "A", ops.get_artifact),
        RouteSpec(
            "GET",
            path(r"/tracking/v1/pins/(?P<pin>[0-9A-Za-z]{1,20})/summaries"),
            "track_summary",
            "E",
            ops.track_summary,
        ),
    ]
