"""The read-only roles: SELECT on exactly what the dashboards and alerts read, and no write."""

from __future__ import annotations

import json
from datetime import datetime

import psycopg2
import psycopg2.errors
import pytest

from tests.grafana.conftest import AIRFLOW_ROLE, ORDER_ROLE, run_as
from tests.grafana.grafana_files import AIRFLOW_DS, ORDER_DS, alert_rules, alert_sql, panel_queries

PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")


def _queries(uid: str, now: datetime) -> list[str]:
    sqls = [q.sql(now) for q in panel_queries() if q.datasource_uid == uid]
    sqls += [sql for ds, sql in (alert_sql(r, now) for r in alert_rules()) if ds == uid]
    return sqls


def _relations_read(conn, sqls: list[str]) -> set[str]:
    """Every table the plans of these queries scan (as the owner, so nothing is hidden)."""
    found: set[str] = set()

    def walk(node):
        if isinstance(node, dict):
            if "Relation Name" in node:
                found.add(node["Relation Name"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    with conn.cursor() as cur:
        for sql in sqls:
            cur.execute("EXPLAIN (FORMAT JSON) " + sql)
            plan = cur.fetchone()[0]
            walk(plan if isinstance(plan, list) else json.loads(plan))
    return found


def _privileges(conn, role: str) -> dict[str, set[str]]:
    with conn.cursor() as cur:
        cur.execute(
            """SELECT c.relname, p.privilege
                 FROM pg_class c
                 JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = current_schema()
                 CROSS JOIN unnest(%s::text[]) AS p(privilege)
                WHERE c.relkind IN ('r', 'v', 'm', 'p', 'f')
                  AND has_table_privilege(%s, c.oid, p.privilege)""",
            (list(PRIVILEGES), role),
        )
        granted: dict[str, set[str]] = {}
        for table, privilege in cur.fetchall():
            granted.setdefault(table, set()).add(privilege)
    return granted


def test_order_role_reads_exactly_what_the_dashboards_read(order_conn, now):
    granted = _privileges(order_conn, ORDER_ROLE)
    assert all(p == {"SELECT"} for p in granted.values()), granted
    assert set(granted) == _relations_read(order_conn, _queries(ORDER_DS, now))
    with order_conn.cursor() as cur:
        cur.execute("SELECT rolcanlogin, rolsuper, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = %s",
                    (ORDER_ROLE,))
        assert cur.fetchone()[1:] == (False, False, False)
        cur.execute("""SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                        WHERE n.nspname = current_schema() AND c.relkind = 'S'
                          AND (has_sequence_privilege(%s, c.oid, 'USAGE')
                               OR has_sequence_privilege(%s, c.oid, 'UPDATE'))""",
                    (ORDER_ROLE, ORDER_ROLE))
        assert cur.fetchone()[0] == 0


@pytest.mark.parametrize("statement", [
    "INSERT INTO orders (order_id, created_date, raw) VALUES ('X-1', now(), '{}')",
    "INSERT INTO order_status_history (order_id, status) VALUES ('S1-A', 'canceled')",
    "UPDATE orders SET current_status = 'shipped'",
    "UPDATE conversations SET reply_needed_since = NULL",
    "DELETE FROM messages",
    "DELETE FROM shipments",
    "TRUNCATE customers",
    "SELECT * FROM pack_scans",
    "SELECT * FROM canadapost_seen_shipments",
    "SELECT * FROM schema_migrations",
    "SELECT nextval('shipments_id_seq')",
])
def test_order_role_cannot_write_or_read_beyond_its_grants(order_conn, statement):
    with pytest.raises(psycopg2.errors.InsufficientPrivilege):
        run_as(order_conn, ORDER_ROLE, statement)
    with order_conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM order_status_history WHERE order_id = 'S1-A' AND status = 'canceled'")
        assert cur.fetchone()[0] == 0


def test_migration_grants_again_in_every_new_database(fresh_db):
    """The role is cluster-wide and already exists: a second database still gets its grants."""
    conn = psycopg2.connect(fresh_db)
    try:
        assert set(_privileges(conn, ORDER_ROLE)) == {"orders", "order_statuses", "order_status_history",
                                                      "shipments", "customers", "conversations", "messages",
                                                      "order_claims", "shipping_groups", "manifests",
                                                      "money_intents", "returns", "order_lines", "agent_replies",
                                                      "order_events"}
    finally:
        conn.close()


def test_airflow_role_reads_exactly_what_the_airflow_dashboard_reads(airflow_conn, now):
    granted = _privileges(airflow_conn, AIRFLOW_ROLE)
    assert all(p == {"SELECT"} for p in granted.values()), granted
    sqls = [s.replace("'$dag_id'", "'orderflow_core'") for s in _queries(AIRFLOW_DS, now)]
    assert set(granted) == _relations_read(airflow_conn, sqls) == {"dag_run", "task_instance", "task_instance_history"}


@pytest.mark.parametrize("statement", [
    "SELECT * FROM connection",
    "SELECT * FROM variable",
    "SELECT * FROM ab_user",
    "SELECT * FROM xcom",
    "INSERT INTO dag_run (dag_id, run_id, run_type, run_after, clear_number, span_status) "
    "VALUES ('x', 'x', 'manual', now(), 0, 'not_started')",
    "UPDATE task_instance SET state = 'success'",
    "DELETE FROM dag_run",
])
def test_airflow_role_cannot_write_or_read_secrets(airflow_conn, statement):
    with pytest.raises(psycopg2.errors.InsufficientPrivilege):
        run_as(airflow_conn, AIRFLOW_ROLE, statement)
