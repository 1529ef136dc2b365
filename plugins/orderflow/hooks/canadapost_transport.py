"""Canada Post transport: how the hook sends a wire :class:`~orderflow.hooks.canadapost_wire.Call`.

:class:`CanadaPostTransport` is ``CanadaPostHook``'s base, the I/O its operations stand on: the
Connection read once (:class:`~orderflow.hooks.canadapost_settings.CanadaPostSettings`), one session
shared by a step's threads (HTTP Basic on the XML gateway), the shared rate limiter (per throttle group,
and per create), the retry policy of each call (``free`` for reads, ``unsent`` where a repeat could act
twice, ``none`` for a create, whose recovery the hook owns), requests' failures as the errors of
:mod:`~orderflow.hooks.canadapost_errors` (a connect failure is ``_NotSent``: safe to send again), and
the portal's OAuth tokens, cached per process and refreshed once on a 401.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable
from typing import ClassVar, NamedTuple, TypeVar

import requests
from airflow.sdk import BaseHook
from airflow.sdk.log import mask_secret

from orderflow.hooks._http import RateLimiter, RetryPolicy, build_session, never_connected, retrying, same_origin
from orderflow.hooks.canadapost_errors import (
    CanadaPostForeignLinkError,
    CanadaPostRetryableError,
    CanadaPostThrottledError,
    _NotSent,
    is_retryable,
)
from orderflow.hooks.canadapost_settings import CREATE_LIMIT_KEY, CanadaPostSettings
from orderflow.hooks.canadapost_wire import TOKEN_FORM, Answer, Call, PortalWire, Wire, parse_token, wire_for

log = logging.getLogger("orderflow.hooks.canadapost")  # the hook's log, as before the split
T = TypeVar("T")

_CREATE_OPS = frozenset({"create_shipment"})


class _Token(NamedTuple):
    value: str
    expires_at: float  # on the hook's clock


class CanadaPostTransport(BaseHook):
    """Sending for ``CanadaPostHook`` (which sets these attributes in its ``__init__``)."""

    canadapost_conn_id: str
    rate_limits: dict[str, float | None] | None
    retry_policy: RetryPolicy
    timeout: float | tuple[float, float]
    throttle_wait: float
    artifact_wait: float
    token_refresh_margin: float
    _sleep: Callable[[float], None]
    _clock: Callable[[], float]
    _session: requests.Session | None
    _config: CanadaPostSettings | None

    # Portal tokens of the process (see _token_key): one token serves every hook of those credentials.
    _tokens: ClassVar[dict[tuple[str, str, str], _Token]] = {}
    _tokens_lock: ClassVar[threading.Lock] = threading.Lock()

    # -- connection → configuration (first use only) ---------------------------------------------

    def get_conn(self) -> requests.Session:
        if self._session is None:
            config = self._load_config()
            session = build_session({"Accept-language": config.language})
            if config.api == "xml":
                session.auth = (config.login, config.password)
            self._session = session
        return self._session

    @property
    def config(self) -> CanadaPostSettings:
        return self._load_config()

    def _load_config(self) -> CanadaPostSettings:
        if self._config is None:
            conn = self.get_connection(self.canadapost_conn_id)
            self._config = CanadaPostSettings.from_connection(conn, self.rate_limits)
            if self._config.password:
                mask_secret(self._config.password)
        return self._config

    def _wire(self) -> Wire:
        return wire_for(self._load_config())

    # -- sending ----------------------------------------------------------------------------------

    def _get(self, call: Call, parse: Callable[[Answer, Call], T]) -> T:
        """An idempotent read, parsed inside the retry loop (a truncated body is fetched again)."""
        return self._send(call, "free", parse)

    def _send(self, call: Call, retry: str, parse: Callable[[Answer, Call], T]) -> T:
        """Send ``call`` and parse the answer. ``retry``: ``"free"`` (idempotent: any retryable error,
        malformed answers included), ``"unsent"`` (only throttling and connect failures, where the
        server did not act) or ``"none"``."""

        def once() -> T:
            return parse(self._send_once(call), call)

        if retry == "none":
            return once()
        if retry == "free":
            return self._retrying(once, is_retryable)
        return self._retrying(once, lambda exc: isinstance(exc, CanadaPostThrottledError | _NotSent))

    def _retrying(self, once: Callable[[], T], retryable: Callable[[BaseException], bool]) -> T:
        for attempt in retrying(self.retry_policy, is_retryable=retryable, retry_after=_retry_after,
                                sleep=self._sleep):
            with attempt:
                return once()
        raise AssertionError("unreachable: retrying re-raises")  # pragma: no cover

    def _send_once(self, call: Call) -> Answer:
        """One request (two for a portal 401: refresh the token, then resend once)."""
        config = self._load_config()
        answer = self._http(call)
        if answer.status == 401 and config.api == "portal":
            log.info("%s: 401 with a cached token; refreshing it and retrying once", call.op)
            self._invalidate_token()
            answer = self._http(call)
        return self._wire().check(call, answer, throttle_wait=self.throttle_wait, artifact_wait=self.artifact_wait)

    def _http(self, call: Call) -> Answer:
        config = self._load_config()
        if not same_origin(call.url, config.base_url):
            raise CanadaPostForeignLinkError.of(call.op, call.url, config.base_url, call.ref)
        session = self.get_conn()
        if call.op in _CREATE_OPS:
            # Per-operation budget first, so a create waiting for its slot holds no group A slot.
            self._limiter(CREATE_LIMIT_KEY).acquire()
        self._limiter(call.group).acquire()
        headers = {"Accept": call.accept}
        if call.content_type:
            headers["Content-Type"] = call.content_type
        if config.api == "portal":
            headers["Authorization"] = f"Bearer {self._token()}"
            # IBM API Connect gateways identify the application by this header on every call.
            headers["X-IBM-Client-Id"] = config.login
        try:
            response = session.request(
                call.method, call.url, params=call.params, data=call.body, headers=headers,
                timeout=self.timeout,
            )
        except requests.ConnectTimeout as exc:
            raise _NotSent(f"{call.op}: connect timeout", request_id=call.ref) from exc
        except requests.Timeout as exc:
            raise CanadaPostRetryableError(f"{call.op}: timed out waiting for the answer",
                                           request_id=call.ref) from exc
        except requests.ConnectionError as exc:
            if never_connected(exc):
                raise _NotSent(f"{call.op}: could not connect", request_id=call.ref) from exc
            raise CanadaPostRetryableError(f"{call.op}: connection failed or dropped",
                                           request_id=call.ref) from exc
        except requests.RequestException as exc:
            raise CanadaPostRetryableError(f"{call.op}: {type(exc).__name__}", request_id=call.ref) from exc
        ctype = (response.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
        log.debug("%s %s -> %s", call.op, call.ref or "", response.status_code)
        return Answer(response.status_code, response.content, ctype, response.headers)

    def _limiter(self, group: str) -> RateLimiter:
        config = self._load_config()
        return RateLimiter.shared(f"canadapost:{config.key_tag}:{group}", config.rate_limits.get(group))

    # -- portal tokens: one per (token URL, client id, a hash of the secret) in the process ----------

    def _token_key(self) -> tuple[str, str, str]:
        # The secret's hash is part of the key: a token issued for the old secret must not answer for a
        # changed one (the connection test of a wrong secret would pass on the cached token).
        config = self._load_config()
        return (config.token_url, config.login, hashlib.sha256(config.password.encode()).hexdigest()[:16])

    def _invalidate_token(self) -> None:
        with self._tokens_lock:
            self._tokens.pop(self._token_key(), None)

    def _token(self) -> str:
        key = self._token_key()
        with self._tokens_lock:
            token = self._tokens.get(key)
            if token is not None and self._clock() < token.expires_at - self.token_refresh_margin:
                return token.value
        fresh = self._retrying(self._fetch_token, is_retryable)
        with self._tokens_lock:
            self._tokens[key] = fresh
        return fresh.value

    def _fetch_token(self) -> _Token:
        config = self._load_config()
        wire = PortalWire(config)
        headers, auth = wire.token_credentials()
        RateLimiter.shared(f"canadapost:{config.key_tag}:token", None).acquire()
        try:
            response = self.get_conn().post(config.token_url, data=TOKEN_FORM, headers=headers, auth=auth,
                                            timeout=self.timeout)
        except requests.RequestException as exc:
            raise CanadaPostRetryableError(f"token: {type(exc).__name__}") from exc
        if response.status_code != 200:
            raise wire.token_refused(response.status_code, response.content, response.headers)
        value, expires_in = parse_token(response.json)
        mask_secret(value)
        return _Token(value, self._clock() + expires_in)


def as_answer(answer: Answer, call: Call) -> Answer:
    """The answer itself (a call whose caller reads the status)."""
    return answer


def _retry_after(exc: BaseException) -> float | None:
    retry_after: float | None = getattr(exc, "retry_after", None)
    return retry_after
