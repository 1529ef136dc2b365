"""``CanadaPostService``: the Canada Post sandbox as a :class:`sandbox.core.Service`.

One service, two flavours on one port and one state:

- the legacy XML gateway (``/rs/...``, ``/vis/track/...``), HTTP Basic auth;
- the Developer Portal (``<portal_base_path>/...``), OAuth 2 client credentials + JSON.

Endpoint names (for faults, logs, counts) and rate groups are the same for both flavours, so a
fault set on ``create_shipment`` hits both transports. Rate groups are Canada Post's documented
throttle groups with their default per-minute limits (``default_limits``, read by the core):
A create/get shipment, artifact, NC create/get (646); B void, refund (468); C groups, get
shipments, transmit, manifests (730); D rates (840, no rating endpoint here); E tracking (20).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from collections.abc import Callable
from typing import Any

from sandbox.canadapost import state as st
from sandbox.canadapost.api import Codec, Operations
from sandbox.canadapost.portal_api import (
    JsonCodec,
    bearer_token,
    check_client,
    client_credentials,
    form_fields,
    messages_json,
    oauth_error,
    portal_routes,
    unauthorized,
)
from sandbox.canadapost.routes import RouteSpec
from sandbox.canadapost.wire import CODE_SERVER, MT_SHIPMENT, CPError, Message, messages_xml
from sandbox.canadapost.xml_api import XmlCodec, xml_routes
from sandbox.core import Request, Response, Route, json_response

DEFAULT_LIMITS: dict[str, float] = {"A": 646, "B": 468, "C": 730, "D": 840, "E": 20}
DEFAULT_PORTAL_BASE_PATH = "/prod/devportal-portaildesdeveloppeurs"

# The throttle reply's HTTP status is unconfirmed (the sheet: "clients check body text"). 503
# without Retry-After is the conservative choice: a client keyed on 429/Retry-After would wrongly
# pass here, while one that reads "Rejected by SLM Monitor" and waits 60 s works whatever status
# the real gateway uses; and as a 5xx on a POST it makes a careful client look up before re-posting.
THROTTLE_STATUS = 503
SLM_REJECTION = "Rejected by SLM Monitor"

_REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    409: "Conflict",
    415: "Unsupported Media Type",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def _flag(value: object) -> bool:
    """A boolean option that may arrive as text from the command line."""
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


class _Bound:
    """A route's handler with its path parameters and flavour (the core only sees a callable;
    ``authenticate``/``error_response`` read the flavour and parameters back from it)."""

    def __init__(
        self, call: Callable[..., Response], codec: Callable[[Request], Codec], params: dict[str, str], flavour: str
    ) -> None:
        self.call = call
        self.codec = codec
        self.params = params
        self.flavour = flavour

    def __call__(self, req: Request) -> Response:
        return self.call(self.codec(req), req, **self.params)


# The return address of the demo shop: every label and manifest needs one.
DEMO_SENDER: dict[str, str] = {
    "sender_name": "Shipping Desk",
    "sender_company": "Orderflow Demo Electronics",
    "sender_phone": "613 555 0100",
    "sender_address_line_1": "100 Bank St",
    "sender_city": "Ottawa",
    "sender_province": "ON",
    "sender_postal_code": "K1P5N2",
}


class CanadaPostService:
    """Canada Post sandbox (XML gateway + Developer Portal) for :class:`sandbox.core.SandboxServer`.

    Options (keyword arguments, defaults in brackets):

    - ``user``/``password`` [``orderflow-sandbox``/``sandbox-password``]: the XML gateway's API key
      pair (HTTP Basic); ``customer_number`` [``0001234567``]: mailed-by (and the only mobo allowed);
    - ``seed`` [0]: shipment ids, PINs and artifact ids are deterministic for a seed;
    - ``contract_id`` [``0042708517``]: the account's contract; a contract shipment must carry it
      (missing -> 2206; another number -> 400). ``None`` accepts any contract id;
    - ``client_id``/``client_secret`` [``user``/``password``]: the portal's OAuth client (by default
      the same pair as the XML key, so one connection works on either transport);
      ``token_lifetime_s`` [3600]: ``expires_in`` of issued tokens;
    - ``portal_base_path`` [``/prod/devportal-portaildesdeveloppeurs``]: where the portal flavour
      lives on this server;
    - ``artifact_not_ready_first`` [False]: the first fetch of each label answers 202 "not ready",
      and so does any re-fetch sooner than ``artifact_retry_min_s`` [1.0] after it;
    - ``tracking_step_s`` [60.0]: seconds from transmit (or creation, without a manifest) to
      induction, then to in transit, out for delivery and delivered;
    - ``require_dimensions`` [False]: reject parcels without dimensions (9162, unconfirmed rule);
    - ``public_url`` [None]: scheme://host:port for links; default ``http://`` + the Host header;
    - ``clock`` [time.time]: the time source (tests may also move time with ``advance_clock``).
    """

    name = "canadapost"
    default_limits: dict[str, float] = dict(DEFAULT_LIMITS)

    def __init__(
        self,
        user: str = "orderflow-sandbox",
        password: str = "sandbox-password",  # noqa: S107 (documented demo credentials)
        customer_number: str = "0001234567",
        seed: int = 0,
        *,
        contract_id: str | None = "0042708517",
        client_id: str | None = None,
        client_secret: str | None = None,
        token_lifetime_s: float = 3600,
        portal_base_path: str = DEFAULT_PORTAL_BASE_PATH,
        artifact_not_ready_first: bool = False,
        artifact_retry_min_s: float = 1.0,
        tracking_step_s: float = 60.0,
        require_dimensions: bool = False,
        public_url: str | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.user = user
        self.password = password
        self.customer_number = str(customer_number)
        self.seed = seed
        self.contract_id = contract_id
        # One credential pair works for both flavours unless told otherwise: the hook's connection
        # carries login/password, which are the portal's client id/secret when api=portal.
        self.client_id = user if client_id is None else client_id
        self.client_secret = password if client_secret is None else client_secret
        self.token_lifetime_s = float(token_lifetime_s)
        self.portal_base_path = "/" + portal_base_path.strip("/")
        self.artifact_not_ready_first = _flag(artifact_not_ready_first)
        self.artifact_retry_min_s = float(artifact_retry_min_s)
        self.require_dimensions = _flag(require_dimensions)
        self.public_url = public_url.rstrip("/") if public_url else None
        self.store = st.Store(seed=seed, clock=clock) if clock else st.Store(seed=seed)
        self.store.tracking_step_s = float(tracking_step_s)
        self.ops = Operations(self)
        self._xml_routes = xml_routes(self.ops)
        self._portal_routes = portal_routes(self.ops, self._issue_token)

    # -- routing -------------------------------------------------------------------------

    def _base(self, req: Request) -> str:
        if self.public_url:
            return self.public_url
        return f"http://{req.header('Host') or '127.0.0.1'}"

    def route(self, req: Request) -> Route | None:
        path = req.path.rstrip("/") or "/"
        if path.startswith(self.portal_base_path + "/"):
            rel, table, flavour = path[len(self.portal_base_path) :], self._portal_routes, st.PORTAL

            def codec(r: Request) -> Codec:
                return JsonCodec(self._base(r) + self.portal_base_path)
        else:
            rel, table, flavour = path, self._xml_routes, st.XML

            def codec(r: Request) -> Codec:
                return XmlCodec(self._base(r))

        wrong_method: RouteSpec | None = None
        for spec in table:
            match = spec.pattern.match(rel)
            if match is None:
                continue
            if spec.method != req.method:
                wrong_method = wrong_method or spec
                continue
            return Route(spec.endpoint, _Bound(spec.call, codec, match.groupdict(), flavour), spec.rate_group)
        if wrong_method is not None:
            return Route(
                wrong_method.endpoint,
                _Bound(self._method_not_allowed, codec, {}, flavour),
                None,
            )
        return None

    def _method_not_allowed(self, codec: Codec, req: Request) -> Response:
        return codec.fail(CPError.one(405, CODE_SERVER, f"Method {req.method} is not allowed here."), MT_SHIPMENT)

    # -- auth ----------------------------------------------------------------------------

    def authenticate(self, req: Request, route: Route) -> Response | None:
        bound = route.handler
        if not isinstance(bound, _Bound):
            return None
        if bound.flavour == st.XML:
            denied = self._check_basic(req)
        elif route.endpoint == "oauth_token":
            return check_client(req, self.client_id, self.client_secret)
        else:
            token = bearer_token(req)
            if token is None:
                return unauthorized("A Bearer access token is required (POST .../oauth2/token).")
            if not self.store.token_valid(token):
                return unauthorized("The access token is invalid or expired.")
            denied = None
        if denied is None:
            denied = self._check_customer(bound.params)
        if denied is None:
            return None
        status, messages = denied
        if bound.flavour == st.XML:
            return Response(status, messages_xml(messages), {"Content-Type": MT_SHIPMENT})
        return json_response(status, messages_json(messages))

    def _check_basic(self, req: Request) -> tuple[int, list[Message]] | None:
        header = req.header("Authorization") or ""
        user = password = None
        if header[:6].lower() == "basic ":
            try:
                user, _, password = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8").partition(":")
            except (binascii.Error, UnicodeDecodeError):
                user = password = None
        if (
            user is None
            or password is None
            or not hmac.compare_digest(user, self.user)
            or not hmac.compare_digest(password, self.password)
        ):
            # 401 status is unconfirmed (the sheet's "401 auth (unconfirmed)"); E002 is the
            # documented AAA failure text.
            return 401, [Message("E002", "AAA Authentication Failure")]
        return None

    def _check_customer(self, params: dict[str, str]) -> tuple[int, list[Message]] | None:
        mailed_by = params.get("mailed_by")
        if mailed_by is not None and not st.same_customer(mailed_by, self.customer_number):
            return 401, [Message("AA003", f"The API key is not valid for mailed-by customer {mailed_by}.")]
        mobo = params.get("mobo")
        if mobo is not None and not st.same_customer(mobo, self.customer_number):
            return 401, [Message("AA004", f"Customer {self.customer_number} may not mail on behalf of {mobo}.")]
        return None

    def _issue_token(self, codec: Codec, req: Request) -> Response:
        form = form_fields(req)
        if not form:
            return oauth_error(400, "invalid_request", "Expected an application/x-www-form-urlencoded body.")
        if form.get("grant_type") != "client_credentials":
            return oauth_error(400, "unsupported_grant_type", "grant_type must be client_credentials.")
        scopes = set((form.get("scope") or "").split())
        if "merchant" not in scopes:
            return oauth_error(400, "invalid_scope", "scope must be merchant.")
        pairs = client_credentials(req)
        token, lifetime = self.store.new_token(pairs[0][0] if pairs else "", self.token_lifetime_s)
        return json_response(
            200,
            {"access_token": token, "token_type": "Bearer", "expires_in": int(lifetime), "scope": "merchant"},
            {"Cache-Control": "no-store", "Pragma": "no-cache"},
        )

    # -- framework hooks -----------------------------------------------------------------

    def _flavour(self, route: Route | None) -> str:
        bound = getattr(route, "handler", None)
        return getattr(bound, "flavour", st.XML)

    def throttled_response(self, route: Route, retry_after: float) -> Response:
        messages = [Message(CODE_SERVER, SLM_REJECTION)]
        if self._flavour(route) == st.PORTAL:
            return json_response(THROTTLE_STATUS, messages_json(messages))
        return Response(THROTTLE_STATUS, messages_xml(messages), {"Content-Type": MT_SHIPMENT})

    def error_response(self, status: int, route: Route) -> Response:
        if status == 404:
            messages: list[Message] = []  # the gateway's 404 is an empty <messages/>
        else:
            messages = [Message(CODE_SERVER, _REASONS.get(status, "Error"))]
        if self._flavour(route) == st.PORTAL:
            return json_response(status, messages_json(messages))
        return Response(status, messages_xml(messages), {"Content-Type": MT_SHIPMENT})

    def malformed(self, resp: Response) -> Response:
        """Cut the body in half: broken XML/JSON, or a PDF without its trailer. An empty body
        (204 void) is returned as is: a 204 cannot carry a body."""
        if not resp.body:
            return resp
        return Response(resp.status, resp.body[: max(1, len(resp.body) // 2)], dict(resp.headers))

    def snapshot(self) -> dict:
        return self.store.snapshot()

    def restore(self, data: dict) -> None:
        self.store.restore(data)

    def inspect(self) -> dict:
        out = self.store.inspect()
        out["options"] = self.options()
        return out

    def options(self) -> dict[str, Any]:
        return {
            "customer_number": self.customer_number,
            "contract_id": self.contract_id,
            "portal_base_path": self.portal_base_path,
            "token_lifetime_s": self.token_lifetime_s,
            "artifact_not_ready_first": self.artifact_not_ready_first,
            "artifact_retry_min_s": self.artifact_retry_min_s,
            "tracking_step_s": self.store.tracking_step_s,
            "require_dimensions": self.require_dimensions,
        }

    def advance(self, seconds: float) -> None:
        """Move sandbox time forward (tracking events, token expiry); ``SandboxHandle.advance``."""
        with self.store.lock:
            self.store.clock_offset += float(seconds)

    def conn_extras(self) -> dict[str, Any]:
        """Extras of a ``canadapost_default`` connection that works against this service."""
        return {
            "api": "portal",  # the default transport for new credentials (issue 9); "xml" works too
            "mobo": self.customer_number,
            "contract_id": self.contract_id or "",
            "origin_postal_code": "K1A0B1",
            "service_code": "DOM.EP",
            "output_format": "4x6",
            **DEMO_SENDER,
            # where refund tickets go for labels of canceled orders that can no longer be voided
            "refund_email": "shipping@orderflow-demo.invalid",
        }

    _CONFIGURABLE: dict[str, Callable[[Any], Any]] = {
        "artifact_not_ready_first": _flag,
        "artifact_retry_min_s": float,
        "token_lifetime_s": float,
        "tracking_step_s": float,
        "require_dimensions": _flag,
    }

    def admin(self, req: Request, action: str) -> Response | None:
        """``/__admin/<action>``:

        - ``GET shipments[?customer_request_id=]``: every shipment (voided too) with its status;
        - ``POST advance_clock {"seconds": n}``: move sandbox time (tracking, token expiry);
        - ``POST expire_tokens``: expire every issued portal token now;
        - ``GET|POST configure {option: value}``: the run-time options above;
        - ``POST clear``: forget every shipment, manifest and token.
        """
        method = req.method
        if action == "shipments" and method == "GET":
            return json_response(200, {"shipments": self.store.shipment_summaries(req.param("customer_request_id"))})
        if action == "advance_clock" and method == "POST":
            self.advance(float(self._payload(req).get("seconds", 0)))
            return json_response(200, {"clock_offset_s": self.store.clock_offset})
        if action == "expire_tokens" and method == "POST":
            return json_response(200, {"expired": self.store.expire_tokens()})
        if action == "configure":
            if method == "POST":
                for key, value in self._payload(req).items():
                    kind = self._CONFIGURABLE.get(key)
                    if kind is None:
                        raise ValueError(f"unknown option {key!r}; one of {sorted(self._CONFIGURABLE)}")
                    value = kind(value)
                    if key == "tracking_step_s":
                        self.store.tracking_step_s = value
                    else:
                        setattr(self, key, value)
            elif method != "GET":
                return None
            return json_response(200, self.options())
        if action == "clear" and method == "POST":
            self.store.clear()
            return json_response(200, {"cleared": True})
        return None

    @staticmethod
    def _payload(req: Request) -> dict[str, Any]:
        if not req.body.strip():
            return {}
        data = json.loads(req.body.decode("utf-8"))
        if not isinstance(data, dict):
            raise ValueError("expected a JSON object")
        return data
