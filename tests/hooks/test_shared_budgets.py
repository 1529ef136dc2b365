"""Rate budgets shared by every process (issue 15): Best Buy and Canada Post count per API key, so
shards on several workers must count together. Real PostgreSQL, real processes; no clock is read:
a limiter's sleep is replaced by one that records the wait it was asked for and stops."""

from __future__ import annotations

import multiprocessing

import pytest

from orderflow.hooks._http import RateLimiter
from orderflow.store import OrderStore


class Waited(Exception):
    pass


def _refuse_to_wait(seconds: float) -> None:
    raise Waited(seconds)


def _spend(limiter: RateLimiter, attempts: int) -> tuple[int, list[float]]:
    taken, waits = 0, []
    for _ in range(attempts):
        try:
            limiter.acquire()
            taken += 1
        except Waited as exc:
            waits.append(float(exc.args[0]))
    return taken, waits


@pytest.fixture
def budgets(fresh_db):
    store = OrderStore(fresh_db)
    RateLimiter.share_budgets(store)
    yield store
    RateLimiter.share_budgets(None)
    store.close()


def test_two_limiters_of_one_budget_share_it_through_the_database(budgets) -> None:
    # Two processes' limiters for one key (separate instances: separate in-process windows).
    a = RateLimiter("canadapost:key:A", 10, sleep=_refuse_to_wait)
    b = RateLimiter("canadapost:key:A", 10, sleep=_refuse_to_wait)
    taken_a, waits_a = _spend(a, 8)
    taken_b, waits_b = _spend(b, 8)
    assert taken_a + taken_b == 10
    # Each refused call is told to wait until the first call leaves the 61 s window.
    assert len(waits_a + waits_b) == 6 and all(50 < w <= 61 for w in waits_a + waits_b)
    # Another budget is untouched, and an unlimited one never reaches the database.
    assert _spend(RateLimiter("canadapost:key:B", 10, sleep=_refuse_to_wait), 3) == (3, [])
    assert _spend(RateLimiter("mirakl:x:OR21", None, sleep=_refuse_to_wait), 50) == (50, [])


def test_without_shared_budgets_each_process_would_spend_the_whole_budget(fresh_db) -> None:
    """What sharing fixes: in-process limiters let two workers spend twice the key's budget."""
    a = RateLimiter("canadapost:key:A", 10, sleep=_refuse_to_wait)
    b = RateLimiter("canadapost:key:A", 10, sleep=_refuse_to_wait)
    assert _spend(a, 8)[0] + _spend(b, 8)[0] == 16


def _worker(dsn: str, start: multiprocessing.synchronize.Event, ready, out) -> None:  # type: ignore[name-defined]
    store = OrderStore(dsn)
    RateLimiter.share_budgets(store)
    limiter = RateLimiter("canadapost:key:create", 12, sleep=_refuse_to_wait)
    store.fetch_all("rate_budget_take", {"name": "warm-up", "allowed": 1000, "window_seconds": 1.0})  # connected
    ready.put(True)
    start.wait(300)
    out.put(_spend(limiter, 10)[0])


def test_processes_never_spend_more_than_the_budget_together(fresh_db) -> None:
    ctx = multiprocessing.get_context("spawn")
    start, ready, out = ctx.Event(), ctx.Queue(), ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(fresh_db, start, ready, out)) for _ in range(3)]
    for p in procs:
        p.start()
    # All three spend together, within one window (a slow start on a loaded machine would open a new one).
    for _ in procs:
        ready.get(timeout=300)
    start.set()
    taken = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    assert sum(taken) == 12, taken
