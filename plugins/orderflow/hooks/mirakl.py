"""MiraklHook: the only code that talks to Best Buy Canada Marketplace's Mirakl seller API.

Thin I/O over the pure wire (:mod:`orderflow.hooks.mirakl_api` builders and parsers, the after-sale
ones in :mod:`orderflow.hooks.mirakl_aftersale`) and its error tree (:mod:`orderflow.hooks.mirakl_errors`,
re-exported here so callers import one module).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

import requests
from airflow.sdk import BaseHook
from airflow.sdk.log import mask_secret

from orderflow.batching import chunked
from orderflow.hooks import mirakl_aftersale as aftersale
from orderflow.hooks import mirakl_api as wire
from orderflow.hooks._http import (
    RateLimiter,
    RetryPolicy,
    build_session,
    never_connected,
    parse_retry_after,
    retrying,
)
from orderflow.hooks.connection_forms import MIRAKL_CONNECTION_TYPE, legacy_field_behaviour
from orderflow.hooks.mirakl_errors import (
    STATUS_TO_ERROR,
    MiraklAuthenticationError,
    MiraklBadRequestError,
    MiraklConnectionError,
    MiraklError,
    MiraklNotFoundError,
    MiraklPermanentError,
    MiraklPermissionError,
    MiraklRateLimitError,
    MiraklResponseError,
    MiraklRetryableError,
    MiraklServerError,
    MiraklTimeoutError,
    MiraklValidationError,
    error_from_response,
    request_id_from_headers,
)
from orderflow.hooks.mirakl_settings import DEFAULT_RATE_LIMITS, DEFAULT_TIMEOUT, MiraklSettings

__all__ = [
    "CONNECTION_TYPE_INFO",
    "STATUS_TO_ERROR",
    "MiraklAuthenticationError",
    "MiraklBadRequestError",
    "MiraklConnectionError",
    "MiraklError",
    "MiraklHook",
    "MiraklNotFoundError",
    "MiraklPermanentError",
    "MiraklPermissionError",
    "MiraklRateLimitError",
    "MiraklResponseError",
    "MiraklRetryableError",
    "MiraklServerError",
    "MiraklTimeoutError",
    "MiraklValidationError",
]

log = logging.getLogger(__name__)

# RE01 answers change when Best Buy edits its reason lists (rarely): one read per hour and connection.
REASONS_CACHE_SECONDS = 3600.0
_REASONS_CACHE: dict[str, tuple[float, list[aftersale.Reason]]] = {}

USER_AGENT = "orderflow-mirakl-hook/1.0"

# What the Airflow connection form shows: the provider-info ``connection-types`` entry that
# orderflow.provider_info registers (see orderflow.hooks.connection_forms).
CONNECTION_TYPE_INFO: dict[str, Any] = MIRAKL_CONNECTION_TYPE


# Why BaseHook and not airflow.providers.http's HttpHook (6.3.0, in the lock), checked on that version:
# its get_conn() (1) copies every Connection extra it does not know into the session's *headers*: with
# this Connection's extras (shop_id 2001, rate_limits {...}) requests refuses to send anything
# ("InvalidHeader: Header part (2001) from ('shop_id', 2001) must be of type str"), and a string extra
# would leak configuration to Mirakl; (2) sends HTTP Basic auth whenever the login field is filled,
# while Mirakl reads the raw key in Authorization; (3) gives a host without a scheme "http://" (the
# key would travel in clear; ours defaults to https) and appends the port after any path; (4) mounts
# TCPKeepAliveAdapter with a 10-connection pool where the step threads share one session (ours: 64,
# build_session). Its run()/check_response() raise a bare AirflowException for a non-2xx (this error
# tree and its retry decisions need the status and body), its run_with_advanced_retry retries whatever
# tenacity arguments it is given (no "may this write have reached Mirakl"), and its test_connection
# POSTs to the base URL. Overriding all of that would leave nothing of it but BaseHook.
class MiraklHook(BaseHook):
    """Mirakl seller (shop) API client for Best Buy Canada Marketplace.

    Connection (``mirakl_default``, conn type ``mirakl``): ``host`` (base URL), ``password`` (the shop
    API key, sent as the raw ``Authorization`` header, registered with Airflow's secrets masker, never
    logged), extras ``shop_id``, ``rate_limits`` and ``timeout``: read by
    :meth:`~orderflow.hooks.mirakl_settings.MiraklSettings.from_connection` (the fields are documented
    in :mod:`orderflow.hooks.mirakl_settings`), available as :attr:`config`.

    Constructor arguments override the connection's extras. ``__init__`` only stores arguments;
    the session is built from the Connection at first use.

    Example env var: ``AIRFLOW_CONN_MIRAKL_DEFAULT='{"conn_type": "mirakl", "host":
    "https://marketplace.bestbuy.ca", "password": "<key>", "extra": {"shop_id": 2001}}'``.

    Retries (tenacity, :class:`RetryPolicy`): 429 (waits at least ``Retry-After``), 5xx, 408,
    connection errors and timeouts, bounded by attempts and total time. GET and the state-setting
    PUTs (OR21/OR23/OR24) are retried after any of these; message POSTs (M12/OR43) only when the
    request provably did not reach Mirakl (429, connection refused, connect timeout), because a
    repeat would send the customer a duplicate message. An error on a retry that follows an
    ambiguous failure has ``after_ambiguous_attempt=True`` (e.g. ``ORDER_INVALID_STATE`` on a retried
    OR21 usually means the first accept went through: re-read the order).
    """

    conn_name_attr = "mirakl_conn_id"
    default_conn_name = "mirakl_default"
    conn_type = "mirakl"
    hook_name = "Best Buy Marketplace (Mirakl)"

    def __init__(
        self,
        mirakl_conn_id: str = default_conn_name,
        *,
        retry_policy: RetryPolicy | None = None,
        timeout: float | tuple[float, float] | None = None,
        rate_limits: Mapping[str, float | None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__()
        self.mirakl_conn_id = mirakl_conn_id
        self.retry_policy = retry_policy or RetryPolicy()
        self._timeout_arg = timeout
        self._rate_limits_arg = dict(rate_limits) if rate_limits is not None else None
        # Injectable so tests can observe or shorten waits between retries.
        self._sleep = sleep
        self._session: requests.Session | None = None
        self._config: MiraklSettings | None = None

    # -- Airflow UI ---------------------------------------------------------------------------------
    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Form behaviour in the legacy hook format (the declarative copy is ``CONNECTION_TYPE_INFO``)."""
        return legacy_field_behaviour(CONNECTION_TYPE_INFO)

    # -- session ------------------------------------------------------------------------------------
    def get_conn(self) -> requests.Session:
        """The HTTP session, built from the Connection on first use."""
        return self._open()[0]

    @property
    def config(self) -> MiraklSettings:
        """The Connection's settings, read with the session on first use."""
        return self._open()[1]

    def _open(self) -> tuple[requests.Session, MiraklSettings]:
        # Each new session (the first, or the next after close()) reads the Connection again.
        if self._session is None or self._config is None:
            conn = self.get_connection(self.mirakl_conn_id)
            if conn.password:
                mask_secret(conn.password)
            config = MiraklSettings.from_connection(
                conn, conn_id=self.mirakl_conn_id, timeout=self._timeout_arg, rate_limits=self._rate_limits_arg
            )
            self._config = config
            # The raw key in Authorization (no "Bearer", no Basic auth): what Mirakl's shop API reads.
            headers = {"Authorization": config.api_key, "Accept": "application/json", "User-Agent": USER_AGENT}
            self._session = build_session(headers)
            log.info("Mirakl session for connection %s: %s (shop_id=%s)", self.mirakl_conn_id, config.base_url,
                     config.shop_id)
        return self._session, self._config

    # What the Connection said, once read (before: None / the defaults, as the hook always showed).
    @property
    def base_url(self) -> str | None:
        return self._config.base_url if self._config else None

    @property
    def shop_id(self) -> int | None:
        return self._config.shop_id if self._config else None

    @property
    def timeout(self) -> tuple[float, float]:
        return self._config.timeout if self._config else DEFAULT_TIMEOUT

    @property
    def rate_limits(self) -> dict[str, float | None]:
        return self._config.rate_limits if self._config else dict(DEFAULT_RATE_LIMITS)

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    def limiter(self, key: str) -> RateLimiter:
        """The process-wide limiter for ``key`` on this connection (created with the configured budget)."""
        return RateLimiter.shared(f"mirakl:{self.mirakl_conn_id}:{key}", self.config.rate_limits.get(key))

    # -- the one request path -----------------------------------------------------------------------
    def _send_once(self, req: wire.MiraklRequest) -> requests.Response:
        session, config = self._open()
        kwargs = req.send_kwargs(config.shop_id, config.timeout)
        started = time.monotonic()
        try:
            resp = session.request(req.method, f"{config.base_url}{req.path}", **kwargs)
        except requests.Timeout as exc:
            err: MiraklConnectionError = MiraklTimeoutError(
                f"{'connect' if isinstance(exc, requests.ConnectTimeout) else 'read'} timeout after "
                f"{time.monotonic() - started:.1f}s on {req.method} {req.path}",
                operation=req.operation,
            )
            # A connect timeout never reached Mirakl; a read timeout may have been applied.
            err.may_have_been_applied = not isinstance(exc, requests.ConnectTimeout)
            raise err from exc
        except requests.ConnectionError as exc:
            err = MiraklConnectionError(
                f"connection failed on {req.method} {req.path}: {type(exc).__name__}", operation=req.operation
            )
            err.may_have_been_applied = not never_connected(exc)
            if not err.may_have_been_applied:
                err.connection_hint = (
                    f"could not connect to {config.base_url} (DNS or connection refused): check the Connection's "
                    "host and that it is reachable from the workers"
                )
            raise err from exc
        elapsed = time.monotonic() - started
        request_id = request_id_from_headers(resp.headers)
        log.info("Mirakl %s %s %s -> %s in %.2fs%s", req.operation, req.method, req.path, resp.status_code, elapsed,
                 f" (request id {request_id})" if request_id else "")
        if 200 <= resp.status_code < 300:
            return resp
        retry_after = parse_retry_after(resp.headers.get("Retry-After"))
        raise error_from_response(req.operation, resp.status_code, resp.text, resp.headers, retry_after=retry_after)

    def _call(self, req: wire.MiraklRequest, limiter_key: str | None = None) -> requests.Response:
        """Send ``req`` with rate limiting and bounded retries; return a 2xx response or raise MiraklError."""
        self.get_conn()
        limiter = self.limiter(limiter_key or req.operation)
        ambiguous = False

        def is_retryable(exc: BaseException) -> bool:
            if not isinstance(exc, MiraklRetryableError):
                return False
            # A write that may have reached Mirakl is repeated only when its builder says it is
            # idempotent: a duplicate customer message, refund or cancel is worse than a later retry.
            return req.safe_to_repeat or not exc.may_have_been_applied

        for attempt in retrying(
            self.retry_policy,
            is_retryable=is_retryable,
            retry_after=lambda exc: getattr(exc, "retry_after", None),
            sleep=self._sleep,
            name=f"Mirakl {req.operation} {req.method} {req.path}",
        ):
            with attempt:
                limiter.acquire()
                try:
                    return self._send_once(req)
                except MiraklError as exc:
                    if ambiguous:
                        exc.after_ambiguous_attempt = True
                    # Only a state-changing call can have "been applied"; a GET has nothing to apply.
                    if req.method != "GET" and isinstance(exc, MiraklRetryableError) and exc.may_have_been_applied:
                        ambiguous = True
                    raise
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover

    def _answer(self, req: wire.MiraklRequest, limiter_key: str | None = None) -> tuple[int, str, str | None]:
        """:meth:`_call`, as the wire's parsers take it: status, body text, request id."""
        resp = self._call(req, limiter_key)
        return resp.status_code, resp.text, request_id_from_headers(resp.headers)

    # -- orders -------------------------------------------------------------------------------------
    def iter_orders(
        self,
        states: str | Sequence[str] | None = None,
        order_ids: Sequence[str] | None = None,
        updated_since: datetime | None = None,
        updated_until: datetime | None = None,
    ) -> Iterator[dict[str, Any]]:
        """OR11: yield raw order dicts across all pages (each order once).

        With ``order_ids`` (split into chunks of <= 100): a look-up under the ``OR11_lookup`` budget;
        orders Mirakl does not know are simply absent. Without: one poll sweep under ``OR11_poll``
        (the first poll in a process never waits; the next waits until a minute has passed).

        A sweep that gets an empty page before Mirakl's ``total_count`` raises
        :class:`MiraklResponseError` (retryable at the task level): a caller must not take a
        short sweep for a complete one. Orders yielded before it were real; :meth:`list_orders`
        returns none of them.
        """
        if isinstance(order_ids, str):
            raise MiraklValidationError("order_ids must be a list of ids, not a string")
        wanted_states = wire.state_filter(states)
        if order_ids is not None:
            ids = list(dict.fromkeys(order_ids))  # dedupe, keep order
            for chunk in chunked(ids, wire.ORDER_IDS_PER_REQUEST):
                asked = set(chunk)
                for order in self._sweep_orders("OR11_lookup", chunk, states, updated_since, updated_until):
                    wire.check_asked_for(order, asked)
                    wire.check_order_state(order, wanted_states)
                    yield order
            return
        self.limiter("OR11_poll").acquire()
        for order in self._sweep_orders(None, None, states, updated_since, updated_until):
            wire.check_order_state(order, wanted_states)
            yield order

    def list_orders(
        self,
        states: str | Sequence[str] | None = None,
        order_ids: Sequence[str] | None = None,
        updated_since: datetime | None = None,
        updated_until: datetime | None = None,
    ) -> list[dict[str, Any]]:
        """OR11: every matching order (all pages) as a list of raw order dicts. See :meth:`iter_orders`."""
        return list(self.iter_orders(states, order_ids, updated_since, updated_until))

    def _sweep_orders(
        self,
        limiter_key: str | None,
        order_ids: Sequence[str] | None,
        states: str | Sequence[str] | None,
        updated_since: datetime | None,
        updated_until: datetime | None,
    ) -> Iterator[dict[str, Any]]:
        seen: set[str] = set()
        offset = 0
        while True:
            req = wire.build_list_orders(order_ids=order_ids, states=states, updated_since=updated_since,
                                         updated_until=updated_until, offset=offset, page_size=wire.ORDERS_PAGE_SIZE)
            # Pages of a poll sweep have no per-request budget (the sweep took OR11_poll); pages of a
            # look-up each take OR11_lookup. "OR11_page" is never configured: unlimited.
            status, text, request_id = self._answer(req, limiter_key or "OR11_page")
            page = wire.parse_orders_page(status, text, request_id)
            for order in page.orders:
                # Offset pages can overlap when an order is created mid-sweep; yield each order once.
                if order["order_id"] not in seen:
                    seen.add(order["order_id"])
                    yield order
            offset += len(page.orders)
            if offset >= page.total_count:
                return
            if not page.orders:
                raise wire.incomplete_sweep(offset, page.total_count, status, request_id)

    def accept_order(self, order_id: str, line_ids: Sequence[str], accepted: bool = True) -> None:
        """OR21: accept (or refuse) every listed order line. 204 -> None.

        Acceptance is asynchronous: the order moves to WAITING_DEBIT* then SHIPPING later (poll OR11).
        ``MiraklBadRequestError`` with code ``ORDER_INVALID_STATE`` means the order left
        WAITING_ACCEPTANCE; with ``after_ambiguous_attempt`` set, most likely because our own earlier
        attempt was applied.
        """
        self._call(wire.build_accept_order(order_id, line_ids, accepted))

    def set_tracking(
        self,
        order_id: str,
        carrier_code: str | None,
        tracking_number: str,
        carrier_name: str | None = None,
        carrier_url: str | None = None,
    ) -> None:
        """OR23: set the order's carrier + tracking number. 204 -> None. Idempotent (sets a value)."""
        self._call(wire.build_set_tracking(order_id, carrier_code, tracking_number, carrier_name, carrier_url))

    def mark_shipped(self, order_id: str) -> None:
        """OR24: confirm shipment (order must be SHIPPING, tracking set first). 204 -> None.

        A retried OR24 after an ambiguous failure may get ``ORDER_INVALID_STATE`` (already SHIPPED):
        check ``after_ambiguous_attempt`` and re-read the order before reporting a failure.
        """
        self._call(wire.build_mark_shipped(order_id))

    def list_carriers(self) -> list[dict[str, Any]]:
        """SH21: carriers ``[{code, label, standard_code, tracking_url}]`` (Mirakl: call once a day)."""
        return wire.parse_carriers(*self._answer(wire.build_list_carriers()))

    # -- inbox --------------------------------------------------------------------------------------
    def iter_threads(
        self,
        updated_since: datetime | None = None,
        entity_id: str | Sequence[str] | None = None,
        *,
        entity_type: str = "MMP_ORDER",
        with_messages: bool = False,
    ) -> Iterator[dict[str, Any]]:
        """M11: yield threads across all pages (seek pagination by ``page_token``)."""
        entity_ids = [entity_id] if isinstance(entity_id, str) else (list(entity_id) if entity_id else None)

        def page(token: str | None) -> tuple[list[dict[str, Any]], str | None]:
            req = wire.build_list_threads(updated_since=updated_since, entity_ids=entity_ids, entity_type=entity_type,
                                          with_messages=with_messages, page_token=token)
            threads = wire.parse_threads_page(*self._answer(req))
            return threads.threads, threads.next_page_token

        return self._seek("M11", page)

    @staticmethod
    def _seek(
        operation: str, page: Callable[[str | None], tuple[list[dict[str, Any]], str | None]]
    ) -> Iterator[dict[str, Any]]:
        """Seek pagination (M11, RT11): each page's items, following ``next_page_token`` until there is none."""
        token: str | None = None
        tokens = wire.PageTokens(operation)
        for _ in range(wire.MAX_THREAD_PAGES):
            items, token = page(token)
            yield from items
            if not token:
                return
            tokens.follow(token)
        raise tokens.too_many()

    def list_threads(
        self,
        updated_since: datetime | None = None,
        entity_id: str | Sequence[str] | None = None,
        *,
        entity_type: str = "MMP_ORDER",
        with_messages: bool = False,
    ) -> list[dict[str, Any]]:
        """M11: every thread (all pages) updated at or after ``updated_since``, as raw dicts."""
        return list(self.iter_threads(updated_since, entity_id, entity_type=entity_type, with_messages=with_messages))

    def get_thread(self, thread_id: str) -> dict[str, Any]:
        """M10: one thread with its messages (raw dict)."""
        return wire.parse_thread(*self._answer(wire.build_get_thread(thread_id)))

    def reply_to_thread(self, thread_id: str, body: str, customer_id: str) -> dict[str, str]:
        """M12: reply to the customer on a thread. Returns ``{"thread_id", "message_id"}``.

        Not retried after an ambiguous failure (``MiraklRetryableError.may_have_been_applied``): look
        at the thread (M10) before sending again.
        """
        req = wire.build_reply_to_thread(thread_id, body, customer_id)
        return wire.parse_message_created("M12", *self._answer(req))

    def create_order_thread(
        self, order_id: str, body: str, topic: str | Mapping[str, str], to: Sequence[str] = ("CUSTOMER",)
    ) -> dict[str, str]:
        """OR43: open a thread on an order (to the customer by default). Returns ``{"thread_id", "message_id"}``."""
        req = wire.build_create_order_thread(order_id, body, topic, to)
        return wire.parse_message_created("OR43", *self._answer(req))

    # -- after the sale (issue 13): builders and parsers in orderflow.hooks.mirakl_aftersale ----------
    def get_order(self, order_id: str) -> dict[str, Any] | None:
        """OR11 look-up of one order (None when Mirakl does not know it)."""
        orders = self.list_orders(order_ids=[order_id])
        return orders[0] if orders else None

    def refund_lines(self, refunds: Sequence[aftersale.LineMoney]) -> list[dict[str, Any]]:
        """OR28. Moves money; never repeated after an ambiguous failure: read the order back first."""
        return aftersale.parse_money_created("OR28", *self._answer(aftersale.build_refund_lines(refunds)))

    def cancel_lines(self, cancelations: Sequence[aftersale.LineMoney]) -> list[dict[str, Any]]:
        """OR30. Moves money; never repeated after an ambiguous failure: read the order back first."""
        return aftersale.parse_money_created("OR30", *self._answer(aftersale.build_cancel_lines(cancelations)))

    def cancel_order(self, order_id: str) -> None:
        """OR29: cancel the whole order (no reason). Never repeated after an ambiguous failure."""
        self._call(aftersale.build_cancel_order(order_id))

    def resolve_incident(self, order_id: str, order_line_id: str, reason_code: str) -> None:
        """OR64: the line's incident is resolved (an INCIDENT_CLOSE reason the shop may use)."""
        self._call(aftersale.build_resolve_incident(order_id, order_line_id, reason_code))

    def list_reasons(self, reason_type: str | None = None, *, fresh: bool = False) -> list[aftersale.Reason]:
        """RE01, cached per connection for ``REASONS_CACHE_SECONDS``; filtered by type when given."""
        key = f"{self.mirakl_conn_id}:{self.config.base_url}"
        cached = _REASONS_CACHE.get(key)
        if fresh or cached is None or time.monotonic() - cached[0] > REASONS_CACHE_SECONDS:
            reasons = aftersale.parse_reasons("RE01", *self._answer(aftersale.build_list_reasons()))
            cached = _REASONS_CACHE[key] = (time.monotonic(), reasons)
        return [r for r in cached[1] if reason_type is None or r.type == reason_type]

    def list_reasons_by_type(self, reason_type: str) -> list[aftersale.Reason]:
        """RE02 (deprecated by Mirakl; RE01 through :meth:`list_reasons` is preferred)."""
        return aftersale.parse_reasons("RE02", *self._answer(aftersale.build_list_reasons_by_type(reason_type)))

    def iter_returns(
        self,
        updated_since: datetime | None = None,
        *,
        states: Sequence[str] | None = None,
        return_ids: Sequence[str] | None = None,
        order_commercial_ids: Sequence[str] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """RT11: every matching return across pages (seek pagination). Mirakl: at most every 5 minutes
        for a sweep; the returns task group keeps that pace, not this method."""
        def page(token: str | None) -> tuple[list[dict[str, Any]], str | None]:
            req = aftersale.build_list_returns(updated_since=updated_since, states=states, return_ids=return_ids,
                                               order_commercial_ids=order_commercial_ids, page_token=token)
            returns = aftersale.parse_returns_page(*self._answer(req))
            return returns.returns, returns.next_page_token

        return self._seek("RT11", page)

    def list_returns(self, updated_since: datetime | None = None, **filters: Any) -> list[dict[str, Any]]:
        return list(self.iter_returns(updated_since, **filters))

    def _returns_update(self, req: wire.MiraklRequest) -> aftersale.ReturnsUpdate:
        return aftersale.parse_returns_update(req.operation, *self._answer(req))

    def receive_returns(self, return_ids: Sequence[str]) -> aftersale.ReturnsUpdate:
        """RT25: returns received. Per-return refusals come back in ``errors`` (HTTP 200)."""
        return self._returns_update(aftersale.build_receive_returns(return_ids))

    def set_return_compliance(
        self, judgements: Mapping[str, Sequence[aftersale.LineCompliance]]
    ) -> aftersale.ReturnsUpdate:
        """RT26: each returned line compliant or not (with a reason and a note)."""
        return self._returns_update(aftersale.build_return_compliance(judgements))

    def close_returns(self, return_ids: Sequence[str]) -> aftersale.ReturnsUpdate:
        """RT27: returns closed."""
        return self._returns_update(aftersale.build_close_returns(return_ids))

    # -- connection test ----------------------------------------------------------------------------
    def test_connection(self) -> tuple[bool, str]:
        """Airflow's "Test" button: SH21, the shop's carriers (cheap, read-only, needs a valid key). One
        attempt, and a message that says what to fix (orderflow.hooks.connection_test)."""
        from orderflow.hooks.connection_test import MIRAKL, QUICK_RETRY, explain_failure

        policy, self.retry_policy = self.retry_policy, QUICK_RETRY
        try:
            carriers = self.list_carriers()
        except Exception as exc:  # the UI shows the message; a connection test never raises
            return False, explain_failure(MIRAKL, self.base_url, exc)
        finally:
            self.retry_policy = policy
        shop = f", shop {self.shop_id}" if self.shop_id is not None else ""
        return True, (f"Connected to Best Buy Marketplace (Mirakl) at {self.base_url}: the shop API key works "
                      f"({len(carriers)} carriers{shop})")

