"""Panels rewritten for speed at scale (issue 8) return exactly what their originals returned.

The originals (tests/grafana/previous_panels.py) and the dashboard's current queries are run side
by side as the read-only role on the seeded orders, over the dashboard's own time range and a few
others, with every variable choice: the rows, their order and their values must be equal.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.grafana.conftest import ORDER_ROLE, run_as
from tests.grafana.grafana_files import PanelQuery, panel_queries, variable_choices
from tests.grafana.macros import TimeRange, expand
from tests.grafana.previous_panels import PREVIOUS_SQL

REWRITTEN = {q.panel["title"]: q for q in panel_queries()
             if q.dashboard == "orders" and q.panel["title"] in PREVIOUS_SQL}
WINDOWS = {"dashboard": None, "last 2 days": timedelta(days=2), "last 12 hours": timedelta(hours=12),
           "last 30 days": timedelta(days=30)}


def test_every_rewritten_panel_is_still_on_the_dashboard():
    assert set(REWRITTEN) == set(PREVIOUS_SQL)
    for title, query in REWRITTEN.items():
        assert query.target["rawSql"] != PREVIOUS_SQL[title], f"{title}: not rewritten"


@pytest.mark.parametrize("title", sorted(PREVIOUS_SQL))
@pytest.mark.parametrize("window", list(WINDOWS))
def test_rewritten_panel_returns_what_the_original_returned(title, window, now, order_conn):
    query: PanelQuery = REWRITTEN[title]
    span = WINDOWS[window]
    time_range = query.time_range(now) if span is None else TimeRange(now - span, now)
    compared = 0
    for variables in variable_choices(query.dashboard_json):
        new_columns, new_rows = run_as(order_conn, ORDER_ROLE, expand(query.target["rawSql"], time_range, variables))
        old_columns, old_rows = run_as(order_conn, ORDER_ROLE, expand(PREVIOUS_SQL[title], time_range, variables))
        assert new_columns == old_columns
        assert new_rows == old_rows, f"{title} over {window} {variables}"
        compared += len(new_rows)
    if window in ("dashboard", "last 30 days"):
        assert compared, f"{title}: the seeded data should show up over {window}"


def test_grafana_role_runs_without_jit(order_conn):
    """Migration 009: Grafana's sessions never pay JIT compilation (set for the role, cluster-wide)."""
    with order_conn.cursor() as cur:
        cur.execute(
            """SELECT s.setconfig FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole
                WHERE r.rolname = %s AND s.setdatabase = 0""",
            (ORDER_ROLE,),
        )
        (config,) = cur.fetchone()
    assert "jit=off" in config
