"""The store's connection settings: an Airflow Connection read by PostgresHook (store/connection.py)."""

from __future__ import annotations

import json
import threading
from typing import Any

import psycopg2
import pytest

from orderflow.store import OrderStore
from orderflow.store import connection as store_connection
from orderflow.store.connection import DEFAULTS, OrderDbHook


def _session(store: OrderStore) -> dict[str, Any]:
    with store.transaction() as cur:
        cur.execute("SELECT current_database() AS db, current_user AS usr, "
                    "current_setting('application_name') AS app")
        row = cur.fetchone()
        assert row is not None
        return dict(row)


def test_a_uri_connection_reaches_its_database_as_orderflow(fresh_db, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_ORDERFLOW_TEST_URI", fresh_db)
    store = OrderStore.from_conn_id("orderflow_test_uri")
    try:
        session = _session(store)
    finally:
        store.close()
    assert session["db"] == fresh_db.rsplit("/", 1)[1]
    assert session["app"] == "orderflow"  # the store's default application_name


def test_extras_of_a_json_connection_reach_libpq(fresh_db, monkeypatch):
    from urllib.parse import urlsplit

    url = urlsplit(fresh_db)
    monkeypatch.setenv("AIRFLOW_CONN_ORDERFLOW_TEST_JSON", json.dumps({
        "conn_type": "postgres", "host": url.hostname, "port": url.port, "login": url.username,
        "schema": url.path.lstrip("/"),
        "extra": {"application_name": "orderflow-probe", "connect_timeout": 5, "sslmode": "disable",
                  "cursor": "dictcursor"},  # the store picks its own cursors: ignored
    }))
    store = OrderStore.from_conn_id("orderflow_test_json")
    try:
        assert _session(store)["app"] == "orderflow-probe"
    finally:
        store.close()


def test_what_the_connection_leaves_out_gets_the_store_defaults(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_ORDERFLOW_TEST_BARE", json.dumps({"conn_type": "postgres"}))
    seen: list[dict[str, Any]] = []
    monkeypatch.setattr(store_connection.psycopg2, "connect", lambda **kw: seen.append(kw) or object())
    OrderDbHook(postgres_conn_id="orderflow_test_bare").connect()
    assert seen == [DEFAULTS]


def test_empty_fields_get_the_store_defaults_and_unknown_extras_stay_out(monkeypatch):
    # A URI without a path or user (Airflow reads them as ""), and an extra libpq does not know: the
    # store's database and user, and a connection that does not fail on the stray option.
    monkeypatch.setenv("AIRFLOW_CONN_ORDERFLOW_TEST_EMPTY", "postgres://db.example:6543?foo=bar&sslmode=require")
    seen: list[dict[str, Any]] = []
    monkeypatch.setattr(store_connection.psycopg2, "connect", lambda **kw: seen.append(kw) or object())
    OrderDbHook(postgres_conn_id="orderflow_test_empty").connect()
    assert seen == [DEFAULTS | {"host": "db.example", "port": 6543, "sslmode": "require"}]


def test_an_unknown_conn_id_fails_when_the_store_is_built():
    with pytest.raises(Exception, match="orderflow_test_missing"):
        OrderStore.from_conn_id("orderflow_test_missing")


def test_threads_connecting_at_once_each_get_their_own_connection(fresh_db, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_ORDERFLOW_TEST_URI", fresh_db)
    hook = OrderDbHook(postgres_conn_id="orderflow_test_uri")
    got: list[psycopg2.extensions.connection] = []
    kept: list[object] = []
    lock = threading.Lock()

    def connect() -> None:
        conn = hook.connect()
        with lock:
            got.append(conn)
            kept.append(hook.conn)

    threads = [threading.Thread(target=connect) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert len({id(c) for c in got}) == 6
        assert kept == [None] * 6  # the hook keeps none of them: the store's pool owns them
    finally:
        for c in got:
            c.close()
