"""The store's connection pool under more threads than connections: threads wait, none fails."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import psycopg2.pool
import pytest

from orderflow.store import OrderStore


def test_more_threads_than_connections_all_get_one(fresh_db):
    store = OrderStore(fresh_db, max_connections=3)
    in_use = 0
    peak = 0
    sessions: set[int] = set()
    lock = threading.Lock()

    def work(i: int) -> int:
        nonlocal in_use, peak
        with store.transaction() as cur:
            with lock:
                in_use += 1
                peak = max(peak, in_use)
            cur.execute("SELECT %s::int AS n, pg_backend_pid() AS pid, pg_sleep(0.05)", (i,))
            row = cur.fetchone()
            n = row["n"]
            with lock:
                sessions.add(row["pid"])
            with lock:
                in_use -= 1
            return n

    try:
        with ThreadPoolExecutor(max_workers=12) as pool:  # 12 threads, 3 connections
            assert sorted(pool.map(work, range(40))) == list(range(40))
        assert peak == 3  # the pool was really exhausted, and the others waited instead of raising
        assert len(sessions) == 3  # connections are kept and reused, not reopened per checkout
    finally:
        store.close()


def test_shipment_lock_sessions_count_against_the_same_connections(fresh_db):
    store = OrderStore(fresh_db, max_connections=4)
    done: list[str] = []

    def hold_lock(crid: str) -> None:
        with store.shipment_lock(crid) as locked:
            assert locked
            with store.transaction() as cur:  # a second connection while the lock session is held
                cur.execute("SELECT 1")
            time.sleep(0.05)
        done.append(crid)

    try:
        # Each thread holds a lock session and then a transaction: 3 threads may want 6 connections;
        # with 4 (threads + 1: one thread can always finish) the others wait, none fails.
        crids = [f"crid-{i}" for i in range(9)]
        with ThreadPoolExecutor(max_workers=3) as pool:
            list(pool.map(hold_lock, crids))
        assert sorted(done) == crids
    finally:
        store.close()


def test_a_checkout_that_can_never_be_served_raises_a_clear_error(fresh_db):
    store = OrderStore(fresh_db, max_connections=1, checkout_timeout=0.3)
    try:
        # The only connection is held by this very thread: the inner checkout can never be served.
        with (
            store.transaction(),
            pytest.raises(psycopg2.pool.PoolError, match="no database connection free"),
            store.transaction(),
        ):
            pass
        # Both slots came back: the store still works.
        assert store.fetch_one("get_watermark", {"name": "x"}) is None
    finally:
        store.close()
