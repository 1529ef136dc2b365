"""The shared HTTP plumbing: rate limiter, Retry-After parsing, bounded retries."""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
import requests

from orderflow.hooks._http import (
    WINDOW_SAFETY_MARGIN_SECONDS,
    RateLimiter,
    RetryPolicy,
    build_session,
    parse_retry_after,
    retrying,
)

MARGIN = WINDOW_SAFETY_MARGIN_SECONDS


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


# -- RateLimiter -------------------------------------------------------------------------------------
def test_first_call_never_waits_and_second_waits_out_the_window():
    clock = FakeClock()
    limiter = RateLimiter("poll", 1, clock=clock, sleep=clock.sleep)
    assert limiter.acquire() == 0.0
    clock.now += 10
    waited = limiter.acquire()
    assert waited == pytest.approx(50.0 + MARGIN)
    assert clock.now == pytest.approx(1060.0 + MARGIN)


def test_n_per_minute_allows_a_burst_of_n_then_rolls():
    clock = FakeClock()
    limiter = RateLimiter("x", 3, clock=clock, sleep=clock.sleep)
    assert [limiter.acquire() for _ in range(3)] == [0.0, 0.0, 0.0]
    clock.now += 20
    assert limiter.acquire() == pytest.approx(40.0 + MARGIN)  # until the first call leaves the window


def test_window_keeps_a_safety_margin_over_the_servers_60_s():
    assert MARGIN > 0
    clock = FakeClock()
    limiter = RateLimiter("edge", 20, clock=clock, sleep=clock.sleep)
    for _ in range(20):
        limiter.acquire()
        clock.now += 0.001
    # Exactly 60 s after the first call left: the 21st would arrive inside the server's window when the
    # first call was slower on the wire than this one; it waits for the margin instead.
    clock.now = 1060.0
    assert limiter.acquire() == pytest.approx(MARGIN)
    assert clock.now == pytest.approx(1060.0 + MARGIN)


def test_server_counting_arrivals_never_sees_more_than_the_budget_in_60_s():
    """Simulate a server stamping arrivals (send time + a varying delay) against a 20/min budget."""
    import random

    rng = random.Random(7)
    clock = FakeClock()
    limiter = RateLimiter("server-view", 20, clock=clock, sleep=clock.sleep)
    arrivals: list[float] = []
    for _ in range(200):
        limiter.acquire()
        arrivals.append(clock.now + rng.uniform(0.0, 0.5))  # 0-500 ms on the wire
        clock.now += rng.uniform(0.0, 0.2)
    arrivals.sort()
    worst = max(sum(1 for t in arrivals if a <= t < a + 60.0) for a in arrivals)
    assert worst <= 20


def test_margin_can_be_set_and_not_negative():
    clock = FakeClock()
    limiter = RateLimiter("exact", 1, clock=clock, sleep=clock.sleep, margin=0.0)
    limiter.acquire()
    assert limiter.acquire() == pytest.approx(60.0)
    with pytest.raises(ValueError, match="margin"):
        RateLimiter("bad", 1, margin=-1)


def test_fractional_rate_means_one_call_per_longer_window():
    clock = FakeClock()
    limiter = RateLimiter("slow", 0.5, clock=clock, sleep=clock.sleep)
    limiter.acquire()
    assert limiter.acquire() == pytest.approx(120.0 + MARGIN)


@pytest.mark.parametrize("limit", [None, 0])
def test_unlimited(limit):
    clock = FakeClock()
    limiter = RateLimiter("free", limit, clock=clock, sleep=clock.sleep)
    assert sum(limiter.acquire() for _ in range(1000)) == 0.0
    assert clock.sleeps == []


def test_shared_returns_one_object_per_name_and_updates_the_limit():
    a = RateLimiter.shared("mirakl:x:OR11_poll", 1)
    b = RateLimiter.shared("mirakl:x:OR11_poll", 5)
    assert a is b
    assert a.per_minute == 5
    assert RateLimiter.shared("other", 1) is not a


def test_negative_limit_is_refused():
    with pytest.raises(ValueError, match="must be >= 0"):
        RateLimiter("bad", -1)


def test_limiter_grants_exactly_the_budget_to_concurrent_threads():
    class WouldWait(Exception):
        pass

    def refuse_to_sleep(seconds: float) -> None:
        raise WouldWait(seconds)

    limiter = RateLimiter("threads", 5, sleep=refuse_to_sleep)
    results: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(16)

    def worker() -> None:
        start.wait()
        try:
            limiter.acquire()
            outcome = "granted"
        except WouldWait:
            outcome = "waited"
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count("granted") == 5
    assert results.count("waited") == 11


def test_limiter_really_sleeps_with_the_real_clock():
    offset = [0.0]
    limiter = RateLimiter("real", 1, clock=lambda: time.monotonic() + offset[0])
    assert limiter.acquire() == 0.0
    offset[0] += 59.8 + MARGIN  # 0.2 s of the window left
    started = time.monotonic()
    waited = limiter.acquire()
    assert 0.1 <= waited <= 0.5
    assert time.monotonic() - started >= 0.1


# -- parse_retry_after ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, None), ("", None), ("  ", None), ("3", 3.0), ("1.5", 1.5), ("-4", 0.0), ("soon", None), ("nan", None)],
)
def test_parse_retry_after_seconds(value, expected):
    assert parse_retry_after(value) == expected


def test_parse_retry_after_http_date():
    when = datetime.now(UTC) + timedelta(seconds=30)
    seconds = parse_retry_after(format_datetime(when, usegmt=True))
    assert seconds is not None and 28 <= seconds <= 30.5
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past: now


# -- retrying ------------------------------------------------------------------------------------------
class Flaky(Exception):
    def __init__(self, retry_after: float | None = None) -> None:
        super().__init__("flaky")
        self.retry_after = retry_after


class Fatal(Exception):
    pass


def _retrying(policy: RetryPolicy, sleeps: list[float]):
    return retrying(
        policy,
        is_retryable=lambda e: isinstance(e, Flaky),
        retry_after=lambda e: getattr(e, "retry_after", None),
        sleep=sleeps.append,
    )


def test_retries_until_success():
    sleeps: list[float] = []
    calls = iter([Flaky(), Flaky(), "ok"])

    def fn():
        value = next(calls)
        if isinstance(value, Exception):
            raise value
        return value

    assert _retrying(RetryPolicy(max_attempts=5, initial_wait=1, max_wait=10), sleeps)(fn) == "ok"
    assert len(sleeps) == 2
    # jittered exponential: attempt 1 waits in [0.5, 1], attempt 2 in [1, 2]
    assert 0.5 <= sleeps[0] <= 1.0
    assert 1.0 <= sleeps[1] <= 2.0


def test_stops_after_max_attempts_and_reraises_the_last_error():
    sleeps: list[float] = []
    attempts = []

    def fn():
        attempts.append(1)
        raise Flaky()

    with pytest.raises(Flaky):
        _retrying(RetryPolicy(max_attempts=3, initial_wait=0.01), sleeps)(fn)
    assert len(attempts) == 3
    assert len(sleeps) == 2


def test_non_retryable_error_is_raised_at_once():
    sleeps: list[float] = []
    attempts = []

    def fn():
        attempts.append(1)
        raise Fatal()

    with pytest.raises(Fatal):
        _retrying(RetryPolicy(), sleeps)(fn)
    assert attempts == [1] and sleeps == []


def test_retry_after_is_a_floor_above_the_backoff_and_max_wait():
    sleeps: list[float] = []
    outcomes = iter([Flaky(retry_after=7.0), "ok"])

    def fn():
        value = next(outcomes)
        if isinstance(value, Exception):
            raise value
        return value

    _retrying(RetryPolicy(initial_wait=0.01, max_wait=1.0), sleeps)(fn)
    assert sleeps == [7.0]


def test_gives_up_when_the_next_wait_would_pass_the_total_budget():
    sleeps: list[float] = []
    attempts = []

    def fn():
        attempts.append(1)
        raise Flaky(retry_after=50.0)

    with pytest.raises(Flaky):
        _retrying(RetryPolicy(max_attempts=10, max_total_seconds=120), sleeps)(fn)
    # 50 + 50 fits in 120 s, a third 50 s wait would not
    assert sleeps == [50.0, 50.0]
    assert len(attempts) == 3


def test_total_budget_counts_real_elapsed_time():
    attempts = []

    def fn():
        attempts.append(1)
        time.sleep(0.15)
        raise Flaky()

    with pytest.raises(Flaky):
        retrying(
            RetryPolicy(max_attempts=100, max_total_seconds=0.4, initial_wait=0.01, max_wait=0.01),
            is_retryable=lambda e: True,
            retry_after=lambda e: None,
        )(fn)
    assert 2 <= len(attempts) <= 4


def test_each_retry_is_logged(caplog):
    sleeps: list[float] = []
    outcomes = iter([Flaky(), "ok"])

    def fetch_orders():
        value = next(outcomes)
        if isinstance(value, Exception):
            raise value
        return value

    with caplog.at_level(logging.WARNING, logger="orderflow.hooks._http"):
        _retrying(RetryPolicy(initial_wait=0.01), sleeps)(fetch_orders)
    assert any("retrying fetch_orders" in r.getMessage() and "Flaky" in r.getMessage() for r in caplog.records)


def test_context_manager_form():
    sleeps: list[float] = []
    tries = 0
    for attempt in _retrying(RetryPolicy(initial_wait=0.01), sleeps):
        with attempt:
            tries += 1
            if tries < 3:
                raise Flaky()
    assert tries == 3


# -- build_session -------------------------------------------------------------------------------------
def test_build_session_sets_headers_and_disables_urllib3_retries():
    session = build_session({"Accept": "application/json"})
    assert session.headers["Accept"] == "application/json"
    adapter = session.get_adapter("https://example.invalid/")
    assert adapter.max_retries.total == 0


def test_build_session_does_not_resend_on_dropped_connection(scripted_server):
    from tests.hooks.conftest import Reply

    scripted_server.reply(Reply(drop=True))
    session = build_session()
    with pytest.raises(requests.ConnectionError):
        session.post(scripted_server.url + "/x", data=b"{}", timeout=5)
    assert len(scripted_server.requests) == 1


def test_session_pool_holds_a_connection_per_worker_thread():
    from orderflow.settings import Settings

    adapter = build_session().get_adapter("https://example.invalid/")
    assert adapter._pool_maxsize >= Settings().max_workers  # else urllib3 discards connections per call
    pool = adapter.get_connection_with_tls_context(
        requests.Request("GET", "https://example.invalid/").prepare(), verify=True
    ) if hasattr(adapter, "get_connection_with_tls_context") else adapter.get_connection("https://example.invalid/")
    assert pool.pool.maxsize >= Settings().max_workers
