"""Where a person sees an order: the pages and Grafana panels ``lifecycle.PERSON_STATES`` names,
evaluated for real (the panel's SQL, expanded as Grafana would, run against an order DB).

Used by the unexpected-first-state tests, the liveness test and the model-based test: an order "is
seen" when the panel's result lists its id, or, for a count panel, counts it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg2
import psycopg2.extras

from orderflow import lifecycle
from tests.grafana.grafana_files import DASHBOARDS, PanelQuery, load_dashboard

ID_COLUMNS = ("order", "order_id", "Order")


def _walk(panels: list[dict[str, Any]]):
    for p in panels:
        yield p
        yield from _walk(p.get("panels", []))


def panel_queries(title: str) -> list[PanelQuery]:
    """Every query of the panels titled `title` on the provisioned dashboards."""
    found = []
    for path in DASHBOARDS:
        dashboard = load_dashboard(path)
        for panel in _walk(dashboard["panels"]):
            if panel.get("title") == title:
                found.extend(PanelQuery(path.stem, dashboard, panel, t) for t in panel.get("targets", []))
    return found


def location_queries(location: str) -> list[PanelQuery]:
    kind, _, title = location.partition(":")
    assert kind == "grafana", f"unknown kind of place a person looks: {location!r}"
    queries = panel_queries(title)
    assert queries, f"no Grafana panel titled {title!r} (named by lifecycle.PERSON_STATES)"
    return queries


def run_panel(db_url: str, query: PanelQuery, now: datetime | None = None) -> list[dict[str, Any]]:
    conn = psycopg2.connect(db_url)
    try:
        with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
            cur.execute(query.sql(now or datetime.now(UTC)))
            return [dict(r) for r in cur.fetchall()]
    finally:
        conn.rollback()
        conn.close()


def listed_ids(rows: list[dict[str, Any]]) -> set[str]:
    return {str(r[c]) for r in rows for c in ID_COLUMNS if c in r}


def counted(rows: list[dict[str, Any]]) -> int:
    """A stat panel's number (first numeric column of its only row)."""
    if len(rows) != 1:
        return 0
    numbers = [v for v in rows[0].values() if isinstance(v, int | float) and not isinstance(v, bool)]
    return int(numbers[0]) if numbers else 0


def seen_by_a_person(db_url: str, order_id: str, status: str) -> list[str]:
    """The places (``PERSON_STATES`` locations) that show `order_id` in `status`; [] when none does.

    A list panel must list the id; a count panel must count at least one order (callers that want
    certainty use a DB holding only this order).
    """
    location = lifecycle.PERSON_STATES.get(lifecycle.OrderStatus(status))
    if location is None:
        return []
    places = []
    for query in location_queries(location):
        rows = run_panel(db_url, query)
        if order_id in listed_ids(rows) or (not listed_ids(rows) and counted(rows) > 0):
            places.append(f"{location} ({query.id})")
    return places


def person_lists(db_url: str) -> dict[str, set[str]]:
    """Every list panel of a person's place -> the order ids it lists right now."""
    out: dict[str, set[str]] = {}
    for location in sorted(set(lifecycle.PERSON_STATES.values())):
        for query in location_queries(location):
            out[f"{location} ({query.id})"] = listed_ids(run_panel(db_url, query))
    return out
