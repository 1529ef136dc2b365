"""Fixtures for the Grafana tests: an orderflow DB of their own (migrated, seeded, read through the
read-only role) and this session's Airflow metadata DB with seeded runs in a rolled-back transaction."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from datetime import UTC, datetime

import psycopg2
import psycopg2.errors
import pytest

from tests.grafana import seed
from tests.grafana.grafana_files import REPO_ROOT
from tools import pg

ORDER_ROLE = "orderflow_grafana"
AIRFLOW_ROLE = "airflow_grafana"
AIRFLOW_GRANTS = REPO_ROOT / "docker" / "airflow-grafana-grants.sql"


@pytest.fixture(scope="module")
def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


@pytest.fixture(scope="module")
def seeded_db_url(pg_server, now) -> Iterator[str]:
    from orderflow import db

    name = f"of_t{os.getpid()}_grafana"
    pg.create_database(pg_server, name, drop_first=True)
    url = pg_server.url(name)
    db.upgrade(url)
    conn = psycopg2.connect(url)
    try:
        with conn, conn.cursor() as cur:
            seed.seed_orders(cur, now)
            seed.seed_messages(cur, now)
            seed.seed_aftersale(cur, now)
    finally:
        conn.close()
    yield url
    pg.drop_database(pg_server, name)


@pytest.fixture
def order_conn(seeded_db_url) -> Iterator[psycopg2.extensions.connection]:
    conn = psycopg2.connect(seeded_db_url)
    yield conn
    conn.rollback()
    conn.close()


def _ensure_role(conn, role: str) -> None:
    """Create a NOLOGIN role if missing (cluster-wide; other sessions may race us)."""
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,))
            if cur.fetchone() is None:
                with contextlib.suppress(psycopg2.errors.DuplicateObject, psycopg2.errors.UniqueViolation):
                    cur.execute(f"CREATE ROLE {role} NOLOGIN")
    finally:
        conn.autocommit = False


@pytest.fixture(scope="module")
def airflow_conn(airflow_db, now) -> Iterator[psycopg2.extensions.connection]:
    """The metadata DB with the Grafana grants applied (committed, idempotent) and seeded runs
    (never committed: the session's other tests share this database)."""
    conn = psycopg2.connect(airflow_db.replace("postgresql+psycopg2://", "postgresql://", 1))
    _ensure_role(conn, AIRFLOW_ROLE)
    with conn.cursor() as cur:
        cur.execute(AIRFLOW_GRANTS.read_text(encoding="utf-8"))
    conn.commit()
    with conn.cursor() as cur:
        seed.seed_airflow(cur, now)
    yield conn
    conn.rollback()
    conn.close()


def run_as(conn, role: str, sql: str) -> tuple[list[str], list[tuple]]:
    """Run one query as ``role`` inside the connection's transaction; return (columns, rows)."""
    with conn.cursor() as cur:
        cur.execute("SAVEPOINT grafana_query")
        try:
            cur.execute(f"SET ROLE {role}")
            cur.execute(sql)
            columns = [d.name for d in cur.description]
            rows = cur.fetchall()
        except Exception:
            cur.execute("ROLLBACK TO SAVEPOINT grafana_query")
            cur.execute("RESET ROLE")
            raise
        cur.execute("RESET ROLE")
        cur.execute("RELEASE SAVEPOINT grafana_query")
    return columns, rows
