"""Provisioned alert rules: well-formed, pointing at provisioned data sources and real panels, and
their queries fire exactly when the condition a seller must act on exists."""

from __future__ import annotations

from datetime import timedelta

import psycopg2
import pytest

from tests.grafana import seed
from tests.grafana.conftest import AIRFLOW_ROLE, ORDER_ROLE, run_as
from tests.grafana.grafana_files import DASHBOARDS, ORDER_DS, alert_rules, alert_sql, datasources, load_dashboard

RULES = alert_rules()
EXPECTED = {"orderflow-order-failed", "orderflow-deadline-2h", "orderflow-reply-overdue", "orderflow-dag-failing",
            "orderflow-groups-untransmitted", "orderflow-incident-2d", "orderflow-return-not-refunded"}


def test_the_rules_are_provisioned_with_unique_uids():
    assert sorted(r["uid"] for r in RULES) == sorted(EXPECTED)


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r["uid"])
def test_rule_is_well_formed(rule):
    refs = {d["refId"]: d for d in rule["data"]}
    assert rule["condition"] in refs
    provisioned = datasources()
    for data in rule["data"]:
        if data["datasourceUid"] == "__expr__":
            assert data["model"]["expression"] in refs and data["model"]["expression"] != data["refId"]
        else:
            assert data["datasourceUid"] in provisioned
            assert data["model"]["datasource"]["uid"] == data["datasourceUid"]
            assert data["model"]["format"] == "table" and data["model"]["rawQuery"]
    threshold = refs[rule["condition"]]["model"]
    assert threshold["type"] == "threshold"
    assert threshold["conditions"][0]["evaluator"] == {"type": "gt", "params": [0]}
    dashboards = {load_dashboard(p)["uid"]: load_dashboard(p) for p in DASHBOARDS}
    dashboard = dashboards[rule["annotations"]["__dashboardUid__"]]
    assert int(rule["annotations"]["__panelId__"]) in {p["id"] for p in dashboard["panels"]}
    assert rule["annotations"]["summary"] and rule["labels"]["severity"] in {"critical", "warning"}


def _value(conn, role, sql) -> float:
    columns, rows = run_as(conn, role, sql)
    assert len(columns) == 1 and len(rows) == 1, "an alert query returns one number"
    return rows[0][0]


def _order_rule_values(conn, now) -> dict[str, float]:
    values = {}
    for rule in RULES:
        uid, sql = alert_sql(rule, now)
        if uid == ORDER_DS:
            values[rule["uid"]] = _value(conn, ORDER_ROLE, sql)
    return values


def test_order_alerts_fire_on_the_seeded_conditions(now, order_conn):
    assert _order_rule_values(order_conn, now) == {
        "orderflow-order-failed": len(seed.FAILED_ORDERS),
        "orderflow-deadline-2h": len(seed.NEAR_DEADLINE_2H),
        "orderflow-reply-overdue": 1,
        "orderflow-groups-untransmitted": 1,
        "orderflow-incident-2d": len(seed.INCIDENTS_OVER_2D),
        "orderflow-return-not-refunded": len(seed.RETURNS_NOT_REFUNDED),
    }


def test_order_alerts_are_quiet_on_a_healthy_database(fresh_db, now):
    conn = psycopg2.connect(fresh_db)
    try:
        with conn.cursor() as cur:
            created = now - timedelta(hours=2)
            seed.add_order(cur, "OK-1", created, [("pending_acceptance", created, {}),
                                                  ("accepted", created + timedelta(minutes=5), {})],
                           shipping_deadline=now + timedelta(days=2))
            cur.execute("INSERT INTO conversations (mirakl_thread_id, reply_needed_since) VALUES ('t-1', %s)",
                        (now - timedelta(minutes=5),))
        assert set(_order_rule_values(conn, now).values()) == {0}
    finally:
        conn.rollback()
        conn.close()


def test_dag_failing_alert_follows_the_latest_finished_run(now, airflow_conn):
    (rule,) = [r for r in RULES if r["uid"] == "orderflow-dag-failing"]
    uid, sql = alert_sql(rule, now)
    assert uid == "airflow-db"
    with airflow_conn.cursor() as cur:
        cur.execute("SAVEPOINT dag_failing")
        # Later than any run another test of this session may have made: these are the latest.
        seed.add_dag_run(cur, "orderflow_core", now + timedelta(days=10), "failed")
        assert _value(airflow_conn, AIRFLOW_ROLE, sql) == 1
        seed.add_dag_run(cur, "orderflow_core", now + timedelta(days=11), "running")
        assert _value(airflow_conn, AIRFLOW_ROLE, sql) == 1, "a running run does not hide the failure"
        seed.add_dag_run(cur, "orderflow_core", now + timedelta(days=12), "success")
        assert _value(airflow_conn, AIRFLOW_ROLE, sql) == 0
        cur.execute("ROLLBACK TO SAVEPOINT dag_failing")
