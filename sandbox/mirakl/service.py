"""``MiraklService``: the Best Buy Canada Marketplace (Mirakl seller API) sandbox as a
:class:`sandbox.core.Service`: routing, authentication and the API's throttling and error answers.

Follows ``reference/mirakl-mmp-seller-openapi.json`` and the API sheet for paths, methods, field
names and codes. Where the sources leave a behaviour open the code says "(unconfirmed)" and picks
the behaviour that is harder on a client (a stricter check, an error rather than silence), so a
client that works here does not rely on leniency the real platform may not have.

The rooms: :mod:`~sandbox.mirakl.state` (the world and its clock), :mod:`~sandbox.mirakl.render`
(the documents), :mod:`~sandbox.mirakl.wire` (dates, errors, reading requests), the routes
(:mod:`~sandbox.mirakl.orders`, :mod:`~sandbox.mirakl.inbox`, :mod:`~sandbox.mirakl.aftersale`,
:mod:`~sandbox.mirakl.returns`) and :mod:`~sandbox.mirakl.admin`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from urllib.parse import unquote

from sandbox.core import Request, Response, Route
from sandbox.mirakl.admin import AdminApi
from sandbox.mirakl.inbox import InboxRoutes
from sandbox.mirakl.orders import OrderRoutes, RouteTable
from sandbox.mirakl.wire import mirakl_error

# Documented "Maximum usage" (OR11: once per minute for asynchronous polling). Only OR11 polls
# have a documented number. Look-ups by order_ids (acceptance checks) and later pages of a poll
# are separate groups with no default limit, so each can be limited on its own (unconfirmed
# whether Mirakl counts them together).
DEFAULT_LIMITS: dict[str, float] = {"OR11": 1}


class MiraklService(OrderRoutes, InboxRoutes, AdminApi):
    """The Mirakl half of the sandbox (see module docstring)."""

    name = "mirakl"
    default_limits = DEFAULT_LIMITS

    def __init__(
        self,
        api_key: str = "sandbox-mirakl-key",
        *,
        seed: int = 1,
        shop_id: int = 2001,
        shop_name: str = "Orderflow Demo Electronics",
        debit_delay: float = 5.0,
        payment_refused_rate: float = 0.05,
        cancel_rate: float = 0.03,
        acceptance_timeout: float = 24 * 3600.0,
        partial_acceptance: bool = False,
        order_rate: float = 0.0,
        message_rate: float = 0.0,
        update_date_safety: float = 5.0,
        leadtime_to_ship: int = 2,
        return_rate: float = 0.0,
        incident_rate: float = 0.0,
        return_delay: float = 3 * 86400.0,
        incident_delay: float = 2 * 86400.0,
        in_store_return_share: float = 0.2,
        refund_delay: float = 0.0,
    ) -> None:
        self.api_key = api_key
        super().__init__(
            seed=seed, shop_id=shop_id, shop_name=shop_name, debit_delay=debit_delay,
            payment_refused_rate=payment_refused_rate, cancel_rate=cancel_rate,
            acceptance_timeout=acceptance_timeout, partial_acceptance=partial_acceptance, order_rate=order_rate,
            message_rate=message_rate, update_date_safety=update_date_safety, leadtime_to_ship=leadtime_to_ship,
        )
        self._init_aftersale(return_rate=return_rate, incident_rate=incident_rate, return_delay=return_delay,
                             incident_delay=incident_delay, in_store_return_share=in_store_return_share,
                             refund_delay=refund_delay)

        self._routes: RouteTable = [
            *self.order_routes(),
            *self.inbox_routes(),
            *self.aftersale_routes(),
        ]

    # ------------------------------------------------------------------------------------------
    # Service protocol
    # ------------------------------------------------------------------------------------------

    def route(self, req: Request) -> Route | None:
        segments = tuple(unquote(s) for s in req.path.strip("/").split("/"))
        path_known = False
        for method, pattern, endpoint, handler, group in self._routes:
            if len(pattern) != len(segments):
                continue
            args = []
            for want, got in zip(pattern, segments, strict=True):
                if want == "*":
                    if not got:
                        break
                    args.append(got)
                elif want != got:
                    break
            else:
                if method != req.method:
                    path_known = True
                    continue
                if endpoint == "OR11":
                    group = self._or11_rate_group(req)
                return Route(endpoint, _bind(handler, args), group)
        if path_known:
            return Route("method_not_allowed", lambda _req: mirakl_error(405, "Method Not Allowed"))
        return None

    @staticmethod
    def _or11_rate_group(req: Request) -> str:
        if req.param("order_ids"):
            return "OR11_ids"
        if (req.param("offset") or "0") not in ("", "0"):
            return "OR11_page"  # later pages of one poll
        return "OR11"

    def authenticate(self, req: Request, route: Route) -> Response | None:
        key = req.header("Authorization")
        if not key or key.strip() != self.api_key:
            # The raw key, no "Bearer" (sheet §1): a Bearer-prefixed key is a wrong key.
            return mirakl_error(401, "Unauthorized")
        shop_id = req.param("shop_id")
        if shop_id not in (None, ""):
            try:
                wanted = int(shop_id)
            except ValueError:
                return mirakl_error(400, f"Invalid value for parameter shop_id: {shop_id!r}", "VALIDATION_ERROR")
            if wanted != self.shop_id:
                # A key without access to that shop (unconfirmed: 403 vs 401); a misconfigured
                # connection must fail loudly, not read another shop's orders.
                return mirakl_error(403, f"You do not have access to shop {wanted}")
        return None

    def throttled_response(self, route: Route, retry_after: float) -> Response:
        resp = mirakl_error(429, "Too Many Requests")
        # Seconds as an integer (HTTP delta-seconds), rounded up so waiting that long succeeds.
        resp.headers["Retry-After"] = str(max(1, math.ceil(retry_after)))
        return resp

    def error_response(self, status: int, route: Route) -> Response:
        reasons = {400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 415: "Unsupported Media Type",
                   500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
                   504: "Gateway Timeout"}
        return mirakl_error(status, reasons.get(status, "Error"))

    def malformed(self, resp: Response) -> Response:
        if not resp.body:
            # A body-less answer cannot be truncated: answer 200 with a cut-off JSON instead.
            return Response(200, b'{"status": 20', {"Content-Type": "application/json;charset=UTF-8"})
        return Response(resp.status, resp.body[: max(1, len(resp.body) // 2)], dict(resp.headers))


def _bind(handler: Callable[..., Response], args: list[str]) -> Callable[[Request], Response]:
    return lambda req: handler(req, *args)
