"""HTTP plumbing shared by the Mirakl and Canada Post hooks.

Small pieces, each usable alone:

- :class:`RateLimiter`: a rolling-window, per-minute budget shared by every call in a process and keyed
  by name, so two hook instances (or two operators in one worker) never overspend one API budget;
  with :meth:`RateLimiter.share_budgets` the budget is shared by every process instead (shards on
  several workers: the order store's budgets, kept in PostgreSQL).
- :func:`parse_retry_after`: the ``Retry-After`` header as seconds (delta-seconds or HTTP-date).
- :class:`RetryPolicy` + :func:`retrying`: a bounded tenacity loop (attempts *and* total time) whose
  wait is the larger of the server's ``Retry-After`` and a jittered exponential backoff
  (:func:`backoff`, also used alone where a hook waits outside a tenacity loop).
- :func:`never_connected`: whether a ``requests.ConnectionError`` failed before the request left (so
  sending it again cannot make the server act twice).
- :func:`absolute_base_url` and :func:`same_origin`: a Connection's host as a URL, and whether a
  link may carry the Connection's credentials.

Nothing here knows about an API; the hooks decide what is retryable and where ``Retry-After`` lives.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import ClassVar, Protocol
from urllib.parse import SplitResult, urlsplit

import requests
import tenacity
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError

log = logging.getLogger(__name__)

_WINDOW_SECONDS = 60.0
# The client's window is wider than the server's by this much. The limiter stamps a call when it
# leaves; the server stamps it when it arrives (after connect, TLS, queueing and any latency), and the
# two clocks are not the same. With a bare 60 s window, the 21st call of a 20/min budget can leave
# exactly 60 s after the 1st left yet *arrive* a few ms less than 60 s after the 1st arrived (the 1st
# was slower on the wire): the server counts 21 in its window and throttles (Canada Post then blocks
# the key for up to a minute). One second covers latency jitter and clock skew of real APIs by far and
# costs 1/61 (1.6 %) of the budget.
WINDOW_SAFETY_MARGIN_SECONDS = 1.0


class SharedBudgets(Protocol):
    """Budgets shared across processes (``orderflow.store.rate_budgets``)."""

    def take_rate_budget(self, name: str, allowed: int, window_seconds: float) -> float:
        """Record one call and return 0, or return the seconds until the budget has room."""
        ...


class RateLimiter:
    """Rolling-window (per minute) limiter shared by every call in a process, keyed by name.

    ``per_minute`` may be fractional: 0.5 means one call every two minutes (the window then widens so a
    single call still fits in it). ``None`` or ``0`` means unlimited. The first call never waits: the
    window starts empty, which matters for "poll OR11 at most once a minute" (the first poll is free).

    The window is the server's 60 s plus :data:`WINDOW_SAFETY_MARGIN_SECONDS` (``margin``): never more
    than ``per_minute`` calls in any 60 s of the server's clock, even when calls reach it with
    different delays.
    """

    _registry: ClassVar[dict[str, RateLimiter]] = {}
    _registry_lock: ClassVar[threading.Lock] = threading.Lock()
    # Where the limited budgets are counted when several processes spend them (None: in-process).
    _shared: ClassVar[SharedBudgets | None] = None

    @classmethod
    def share_budgets(cls, budgets: SharedBudgets | None) -> None:
        """Count every limited budget in ``budgets`` (across processes and hosts) from now on, in
        this process; None goes back to counting in-process. The step framework calls it with the
        order store before any hook is used."""
        cls._shared = budgets

    def __init__(
        self,
        name: str,
        per_minute: float | None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        margin: float = WINDOW_SAFETY_MARGIN_SECONDS,
    ) -> None:
        if margin < 0:
            raise ValueError(f"rate limiter {name!r}: margin must be >= 0, got {margin}")
        self.name = name
        self.margin = margin
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._calls: deque[float] = deque()
        self.per_minute: float | None = None
        self.set_limit(per_minute)

    @classmethod
    def shared(cls, name: str, per_minute: float | None) -> RateLimiter:
        """The process-wide limiter called ``name``; the limit is updated to ``per_minute`` each call."""
        with cls._registry_lock:
            limiter = cls._registry.get(name)
            if limiter is None:
                limiter = cls._registry[name] = cls(name, per_minute)
            else:
                limiter.set_limit(per_minute)
            return limiter

    @classmethod
    def reset_all(cls) -> None:
        """Forget every shared limiter (tests; a fresh process starts this way anyway)."""
        with cls._registry_lock:
            cls._registry.clear()
            cls._shared = None

    def set_limit(self, per_minute: float | None) -> None:
        if per_minute is not None and per_minute < 0:
            raise ValueError(f"rate limit {self.name!r} must be >= 0, got {per_minute}")
        with self._lock:
            self.per_minute = per_minute or None

    def _window(self) -> tuple[int, float]:
        """(calls allowed, window length in seconds) for the current limit."""
        assert self.per_minute
        if self.per_minute >= 1:
            return int(self.per_minute), _WINDOW_SECONDS + self.margin
        # Below one call a minute: one call per (60 / per_minute) seconds.
        return 1, _WINDOW_SECONDS / self.per_minute + self.margin

    def acquire(self) -> float:
        """Block until a call is allowed, record it and return the seconds waited."""
        shared = type(self)._shared
        if shared is not None:
            return self._acquire_shared(shared)
        waited = 0.0
        while True:
            with self._lock:
                if not self.per_minute:
                    return waited
                allowed, window = self._window()
                now = self._clock()
                while self._calls and self._calls[0] <= now - window:
                    self._calls.popleft()
                if len(self._calls) < allowed:
                    self._calls.append(now)
                    if waited:
                        log.info("rate limiter %s: waited %.2fs", self.name, waited)
                    return waited
                delay = self._calls[0] + window - now
            # Sleep outside the lock so other threads can see the limit change or compute their own wait.
            delay = max(delay, 0.001)
            self._sleep(delay)
            waited += delay

    def _acquire_shared(self, shared: SharedBudgets) -> float:
        waited = 0.0
        while True:
            with self._lock:
                if not self.per_minute:
                    return waited
                allowed, window = self._window()
            delay = shared.take_rate_budget(self.name, allowed, window)
            if delay <= 0:
                if waited:
                    log.info("rate limiter %s (shared): waited %.2fs", self.name, waited)
                return waited
            self._sleep(delay)
            waited += delay


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds to wait (>= 0), or None when absent or unparsable.

    RFC 9110 allows delta-seconds or an HTTP-date; a date in the past means "now" (0).
    """
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        if seconds != seconds or seconds in (float("inf"), float("-inf")):  # NaN / inf: ignore
            return None
        return max(seconds, 0.0)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):  # Python 3.10+ raises instead of returning None
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


def same_origin(url: str, base: str) -> bool:
    """``url`` has ``base``'s scheme, host and port (default ports filled in) and no user info.

    A request carrying credentials goes only where the Connection points: a link in an answer is
    data, and data must not choose where the API key is sent."""
    try:
        link, own = urlsplit(url), urlsplit(base)

        def origin(parts: SplitResult) -> tuple[str, str, int | None]:
            scheme = parts.scheme.lower()
            return scheme, (parts.hostname or "").lower(), parts.port or _DEFAULT_PORTS.get(scheme)

        return link.username is None and link.password is None and origin(link) == origin(own)
    except ValueError:  # an unparsable port
        return False


_DEFAULT_PORTS = {"http": 80, "https": 443}


def absolute_base_url(host: str, *, scheme: str | None = None, port: int | None = None) -> str:
    """A Connection's ``host`` as an absolute URL: ``scheme`` (default https) put in front when the
    host names none, ``port`` put in the authority when it names none. The rest (path, a trailing
    slash) is kept as given: each hook shapes its own path."""
    url = host if "://" in host else f"{scheme or 'https'}://{host}"
    if port:
        prefix, _, rest = url.partition("://")
        end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
        if ":" not in rest[:end]:
            url = f"{prefix}://{rest[:end]}:{port}{rest[end:]}"
    return url


def never_connected(exc: BaseException) -> bool:
    """True when the TCP connection was never made (DNS failure, refused, connect timeout): the request
    cannot have reached the server, so sending it again cannot make the server act twice.

    Both shapes are recognised: requests' own (``ConnectionError(MaxRetryError)`` whose ``reason`` is
    urllib3's ``NewConnectionError`` / ``NameResolutionError`` / ``ConnectTimeoutError``), and a cause
    chained further down (``args[0]``, ``__cause__``, e.g. a bare ``ConnectionRefusedError``). Anything
    else (reset, dropped, read timeout) is False: the request may have arrived. The implicit
    ``__context__`` (what was being handled when the error was raised) is not followed: a refusal met
    while handling a reset says nothing about the request that was reset, and a wrong True here
    sends a create twice.
    """
    cause: BaseException | None = exc
    for _ in range(10):
        if isinstance(cause, MaxRetryError):
            cause = cause.reason
        if cause is None:
            return False
        if isinstance(cause, ConnectTimeoutError | ConnectionRefusedError):  # NewConnectionError included
            return True
        first = cause.args[0] if cause.args and isinstance(cause.args[0], BaseException) else None
        cause = first or cause.__cause__
    return False


@dataclass(frozen=True)
class RetryPolicy:
    """Bounds of one retry loop. ``max_attempts`` counts the first try."""

    max_attempts: int = 5
    max_total_seconds: float = 120.0
    initial_wait: float = 0.5
    max_wait: float = 30.0


def backoff(policy: RetryPolicy, attempt: int, retry_after: float | None = None) -> float:
    """The wait after failed attempt number ``attempt`` (1 = the first try): full-jitter exponential
    backoff, half fixed and half random (a floor, so a storm of 5xx still spaces out, while many
    workers spread apart), capped at ``max_wait``; never below the server's ``retry_after``, which
    must be honoured even above ``max_wait`` (a retry loop gives up instead when honouring it would
    overrun its total budget)."""
    factor: float = 2 ** (attempt - 1)  # int ** int is typed Any (a negative power is a float)
    ceiling = min(policy.max_wait, policy.initial_wait * factor)
    wait = ceiling / 2 + random.uniform(0, ceiling / 2)
    return max(wait, retry_after or 0.0)


class _RetryAfterOrBackoff(tenacity.wait.wait_base):
    """max(server's Retry-After, full-jitter exponential backoff); never beyond the total budget."""

    def __init__(self, policy: RetryPolicy, retry_after: Callable[[BaseException], float | None]) -> None:
        self.policy = policy
        self.retry_after = retry_after

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        server = None
        outcome = retry_state.outcome
        if outcome is not None and outcome.failed:
            exc = outcome.exception()
            if exc is not None:
                server = self.retry_after(exc)
        return backoff(self.policy, retry_state.attempt_number, server)


class _StopAfterBudget(tenacity.stop.stop_base):
    """Stop after max_attempts, or when the next wait would end past max_total_seconds.

    Elapsed time = wall time since the first attempt, with the time really spent sleeping replaced by
    the waits tenacity asked for. With the real ``time.sleep`` both are the same; with an injected
    sleep (tests) the budget still counts the waits that would have happened.
    """

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy
        self.real_sleep_seconds = 0.0

    def __call__(self, retry_state: tenacity.RetryCallState) -> bool:
        if retry_state.attempt_number >= self.policy.max_attempts:
            return True
        wall = retry_state.seconds_since_start or 0.0
        elapsed = max(wall - self.real_sleep_seconds, 0.0) + retry_state.idle_for
        upcoming = retry_state.upcoming_sleep or 0.0
        return elapsed + upcoming > self.policy.max_total_seconds


def _retry_logger(name: str | None) -> Callable[[tenacity.RetryCallState], None]:
    def log_retry(retry_state: tenacity.RetryCallState) -> None:
        # Only the exception type and its str: hook exceptions carry status/codes/request ids, never
        # keys or addresses (their messages are built from ids only).
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None and outcome.failed else None
        log.warning(
            "retrying %s in %.2fs (attempt %d failed: %s: %s)",
            name or getattr(retry_state.fn, "__name__", None) or "call",
            retry_state.upcoming_sleep,
            retry_state.attempt_number,
            type(exc).__name__ if exc else "result",
            exc,
        )

    return log_retry


def retrying(
    policy: RetryPolicy,
    *,
    is_retryable: Callable[[BaseException], bool],
    retry_after: Callable[[BaseException], float | None],
    sleep: Callable[[float], None] = time.sleep,
    name: str | None = None,
) -> tenacity.Retrying:
    """A tenacity ``Retrying`` bounded by ``policy``; re-raises the last error (never ``RetryError``).

    Use as ``for attempt in retrying(...): with attempt: ...`` or ``retrying(...)(fn, *args)``.
    ``name`` labels the retry log lines (defaults to the wrapped function's name); ``sleep`` is
    injectable so tests can observe or shorten the waits.
    The wait before a retry is max(``retry_after(exc)``, jittered exponential backoff); the loop stops
    after ``max_attempts`` or when waiting again would pass ``max_total_seconds``.
    """
    wait = _RetryAfterOrBackoff(policy, retry_after)
    stop = _StopAfterBudget(policy)

    def timed_sleep(seconds: float) -> None:
        started = time.monotonic()
        try:
            sleep(seconds)
        finally:
            stop.real_sleep_seconds += time.monotonic() - started

    def reset_budget(retry_state: tenacity.RetryCallState) -> None:
        # A Retrying object may be reused for several calls: each call gets a fresh budget.
        if retry_state.attempt_number == 1:
            stop.real_sleep_seconds = 0.0

    # tenacity computes upcoming_sleep (wait) before asking stop, so the stop can see the next wait.
    return tenacity.Retrying(
        stop=stop,
        wait=wait,
        retry=tenacity.retry_if_exception(is_retryable),
        reraise=True,
        before=reset_budget,
        before_sleep=_retry_logger(name),
        sleep=timed_sleep,
    )


# Connections kept per host by a hook's session. requests' default (10) is below the workers a task
# may run (settings.max_workers, default 16): urllib3 then opens extra connections and throws them
# away after each call ("Connection pool is full, discarding connection"), paying a new TCP (and TLS)
# handshake per call. Idle connections cost a socket each, nothing more.
DEFAULT_POOL_MAXSIZE = 64


def build_session(
    headers: dict[str, str] | None = None,
    *,
    pool_maxsize: int = DEFAULT_POOL_MAXSIZE,
) -> requests.Session:
    """A ``requests.Session`` with default headers and no urllib3-level retries (tenacity owns retries).

    ``pool_maxsize`` connections per host are kept for reuse (must be >= the threads sharing the session).
    urllib3's own retries would silently re-send requests (including a money-spending POST), so they
    are disabled explicitly.
    """
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=0, pool_connections=pool_maxsize, pool_maxsize=pool_maxsize)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    if headers:
        session.headers.update(headers)
    return session
