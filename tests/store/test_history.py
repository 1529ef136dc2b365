from __future__ import annotations

import psycopg2
import pytest

from orderflow import status
from orderflow.store import StaleStatus, Transition, TransitionRefused


def _sql(url: str, statement: str, params=()):
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(statement, params)
        conn.commit()
    finally:
        conn.close()


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE order_status_history SET status = 'shipped'",
        "DELETE FROM order_status_history",
        "TRUNCATE order_status_history CASCADE",
    ],
)
def test_history_refuses_update_delete_and_truncate(store, new_order, fresh_db, statement):
    order_id = new_order()
    with pytest.raises(psycopg2.Error, match="append-only"):
        _sql(fresh_db, statement)
    assert [h["status"] for h in store.history(order_id)] == ["pending_acceptance"]


ALL_EDGES = sorted(status.all_transitions(), key=lambda e: (e[0] or "", e[1]))


def _path_to(source: str | None) -> list[str]:
    """A shortest allowed path from a new order to `source` (BFS over the machine)."""
    if source is None:
        return []
    frontier: list[tuple[str | None, list[str]]] = [(None, [])]
    seen: set[str | None] = {None}
    while frontier:
        node, path = frontier.pop(0)
        for target in sorted(status.TRANSITIONS[status.OrderStatus(node) if node else None]):
            if target.value == source:
                return [*path, target.value]
            if target.value not in seen:
                seen.add(target.value)
                frontier.append((target.value, [*path, target.value]))
    raise AssertionError(f"{source} unreachable")


@pytest.mark.parametrize(("source", "target"), ALL_EDGES)
def test_every_allowed_transition_is_written(store, new_order, source, target):
    order_id = new_order(status=None)
    for step in _path_to(source):
        store.record_transition(order_id, step)
    row = store.record_transition(order_id, target, run_id="run-x", detail={"why": "test"})
    assert row["from_status"] == source
    assert row["run_id"] == "run-x"
    assert store.current_status(order_id) == target


REFUSED = [
    (None, "shipped"),
    (None, "label_created"),
    ("pending_acceptance", "shipped"),
    ("pending_acceptance", "label_created"),
    ("accepted", "shipped"),
    ("accepted", "pending_acceptance"),
    ("label_created", "accepted"),
    ("shipped", "canceled"),
    ("canceled", "pending_acceptance"),
    ("refused", "accepted"),
    ("label_failed", "label_created"),
    ("acceptance_failed", "accepted"),
]


@pytest.mark.parametrize(("source", "target"), REFUSED)
def test_refused_transitions_raise_and_write_nothing(store, new_order, fresh_db, source, target):
    assert not status.is_allowed(source, target)
    order_id = new_order(status=None)
    for step in _path_to(source):
        store.record_transition(order_id, step)
    before = store.history(order_id)
    with pytest.raises(TransitionRefused, match="not allowed"):
        store.record_transition(order_id, target)
    assert store.history(order_id) == before
    # The database refuses it too, even when the Python check is bypassed.
    with pytest.raises(psycopg2.errors.CheckViolation):
        _sql(fresh_db, "INSERT INTO order_status_history (order_id, status) VALUES (%s, %s)", (order_id, target))
    assert store.history(order_id) == before


def test_expected_from_guards_against_stale_status(store, new_order):
    order_id = new_order()
    store.record_transition(order_id, "accepted")
    with pytest.raises(StaleStatus):
        store.record_transition(order_id, "acceptance_failed", expected_from="pending_acceptance")
    assert store.current_status(order_id) == "accepted"


def test_record_transitions_is_all_or_nothing(store, new_order):
    a, b = new_order(), new_order()
    with pytest.raises(TransitionRefused):
        store.record_transitions([Transition(a, "accepted"), Transition(b, "shipped")])
    assert store.current_status(a) == "pending_acceptance"
    assert store.current_status(b) == "pending_acceptance"


def test_current_status_view_matches_the_latest_history_row(store, new_order, db_conn, fresh_db):
    ids = [new_order() for _ in range(6)]
    store.record_transition(ids[0], "accepted")
    store.record_transition(ids[0], "label_created")
    store.record_transition(ids[1], "canceled")
    store.record_transition(ids[2], "acceptance_failed", detail={"reason": "x"})
    store.record_transition(ids[2], "pending_acceptance")
    conn = psycopg2.connect(fresh_db)
    with conn.cursor() as cur:
        cur.execute("SELECT order_id, status FROM order_current_status ORDER BY order_id")
        view = dict(cur.fetchall())
        cur.execute(
            "SELECT DISTINCT ON (order_id) order_id, status FROM order_status_history "
            "ORDER BY order_id, id DESC"
        )
        latest = dict(cur.fetchall())
    conn.close()
    assert view == latest
    assert view[ids[0]] == "label_created"
    assert view[ids[1]] == "canceled"
    assert view[ids[2]] == "pending_acceptance"
    assert store.status_counts()["pending_acceptance"] == 4
