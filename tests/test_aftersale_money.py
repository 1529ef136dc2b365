"""Refunds and seller cancelations exactly once (issue 13): real PostgreSQL, real HTTP to the sandbox.

Best Buy's side is asserted from the sandbox's own state (refunds/cancelations per order line).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from decimal import Decimal
from pathlib import Path

import pytest

from orderflow import aftersale
from orderflow.hooks._http import RetryPolicy
from orderflow.hooks.mirakl import MiraklHook
from orderflow.hooks.mirakl_records import order_from_payload
from orderflow.store import OpenIntentExists, OrderStore
from sandbox.testing import running_sandbox

REPO = Path(__file__).resolve().parents[1]
FAST = RetryPolicy(max_attempts=3, max_total_seconds=10, initial_wait=0.01, max_wait=0.05)


@pytest.fixture
def sb(monkeypatch):
    with running_sandbox(seed=13, orders=0, debit_delay=0.0, with_canadapost=False) as handle:
        for conn_id, value in handle.airflow_conn_uris().items():
            monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", value)
        yield handle


@pytest.fixture
def store(fresh_db):
    s = OrderStore(fresh_db)
    yield s
    s.close()


@pytest.fixture
def hook(sb):
    h = MiraklHook(retry_policy=FAST, timeout=(2.0, 3.0))
    yield h
    h.close()


def _order(sb, hook, store, *, ship: bool = True, lines=None) -> dict:
    (order_id,) = sb.generate_orders(1, lines=lines)
    order = hook.get_order(order_id)
    hook.accept_order(order_id, [ln["order_line_id"] for ln in order["order_lines"]])
    sb.advance(1)
    if ship:
        hook.set_tracking(order_id, "CPCL", "7023210039414604")
        hook.mark_shipped(order_id)
    order = hook.get_order(order_id)
    store.upsert_orders([order_from_payload(order)])
    return order


def _refunds_at_best_buy(sb, order_id: str) -> list[dict]:
    return sb.state("mirakl")["refunds"].get(order_id, [])


def _refund(order: dict, amount: str | None = "10.00", purpose: str = "refund#1") -> aftersale.MoneyRequest:
    line = order["order_lines"][0]
    return aftersale.MoneyRequest(aftersale.REFUND, order["order_id"], line["order_line_id"], purpose, "GOODWILL",
                                  amount=None if amount is None else Decimal(amount), requested_by="agent1")


def test_a_refund_goes_once_and_a_double_submit_is_the_same_intent(sb, hook, store):
    order = _order(sb, hook, store)
    req = _refund(order)
    first = aftersale.plan(store, hook, req)
    again = aftersale.plan(store, hook, req)
    assert first["intent_id"] == again["intent_id"] == f"{req.order_line_id}:refund#1"
    assert first["inserted"] is True and again["inserted"] is False
    assert aftersale.settle(store, hook, first["intent_id"]).outcome == "done"
    assert aftersale.settle(store, hook, first["intent_id"]).outcome == "done"
    (refund,) = _refunds_at_best_buy(sb, order["order_id"])
    assert refund["amount"] == 10.0
    assert store.money_intent(first["intent_id"])["mirakl_id"] == refund["id"]
    assert len(sb.calls("mirakl", "OR28")) == 1


def test_never_more_than_the_line_allows(sb, hook, store):
    order = _order(sb, hook, store)
    line = order["order_lines"][0]
    too_much = Decimal(str(line["price"])) + Decimal("0.01")
    with pytest.raises(aftersale.AmountRefused):
        aftersale.plan(store, hook, _refund(order, str(too_much)))
    assert store.money_intents_for_order(order["order_id"]) == []
    # The whole rest of the line, then nothing is left.
    full = aftersale.plan(store, hook, _refund(order, None))
    assert Decimal(str(full["amount"])) == Decimal(str(line["price"]))
    assert aftersale.settle(store, hook, full["intent_id"]).outcome == "done"
    with pytest.raises(aftersale.AmountRefused):
        aftersale.plan(store, hook, _refund(order, "0.01", purpose="refund#2"))
    assert len(sb.calls("mirakl", "OR28")) == 1


def test_one_open_intent_per_line(sb, hook, store):
    order = _order(sb, hook, store)
    aftersale.plan(store, hook, _refund(order, "1.00"))
    with pytest.raises(OpenIntentExists):
        aftersale.plan(store, hook, _refund(order, "2.00", purpose="refund#2"))


def test_dropped_answer_after_best_buy_committed_ends_with_one_refund(sb, hook, store):
    order = _order(sb, hook, store)
    intent = aftersale.plan(store, hook, _refund(order))
    sb.set_faults("mirakl", "OR28", drop_rate=1, count=1)  # Best Buy refunds, the answer is lost
    result = aftersale.settle(store, hook, intent["intent_id"])
    assert result.outcome == "done" and result.message == "found on the order when read back"
    assert len(_refunds_at_best_buy(sb, order["order_id"])) == 1
    assert len(sb.calls("mirakl", "OR28")) == 1  # never sent again


@pytest.mark.parametrize("after_commit", [False, True])
def test_5xx_storm_ends_with_one_refund(sb, hook, store, after_commit):
    order = _order(sb, hook, store)
    intent = aftersale.plan(store, hook, _refund(order))
    sb.set_faults("mirakl", "OR28", error_rate=1, error_statuses=[500, 502, 503], count=4,
                  error_after_commit=after_commit)
    first = aftersale.settle(store, hook, intent["intent_id"])
    if after_commit:
        # The first 5xx was a refund Best Buy made: read back, found, nothing sent again.
        assert first.outcome == "done"
        assert len(sb.calls("mirakl", "OR28")) == 1
    else:
        assert first.outcome == "doubt"  # three sends, three 5xx, each read back: nothing there
        assert _refunds_at_best_buy(sb, order["order_id"]) == []
        second = aftersale.settle(store, hook, intent["intent_id"])
        assert second.outcome == "done"
        assert len(sb.calls("mirakl", "OR28")) == 5  # 4 refused by the storm, the fifth went through
    assert len(_refunds_at_best_buy(sb, order["order_id"])) == 1
    assert store.money_intent(intent["intent_id"])["status"] == "done"


KILLER = textwrap.dedent(
    """
    import sys
    sys.path[:0] = [{plugins!r}, {repo!r}]
    from orderflow import aftersale
    from orderflow.hooks.mirakl import MiraklHook
    from orderflow.store import OrderStore
    store = OrderStore({db!r})
    print("settling", flush=True)
    aftersale.settle(store, MiraklHook(timeout=(5.0, 120.0)), {intent_id!r})
    sys.exit(3)  # not reached: killed while Best Buy holds the answer
    """
)


def test_a_killed_try_ends_with_one_refund(sb, hook, store, fresh_db):
    order = _order(sb, hook, store)
    intent = aftersale.plan(store, hook, _refund(order))
    # Best Buy applies the refund, then never answers: the worker is killed while it waits.
    sb.set_faults("mirakl", "OR28", hang_rate=1, hang_after_commit=True, hang_seconds=30, count=1)
    script = KILLER.format(plugins=str(REPO / "plugins"), repo=str(REPO), db=fresh_db, intent_id=intent["intent_id"])
    proc = subprocess.Popen([sys.executable, "-c", script], env=os.environ.copy(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not _refunds_at_best_buy(sb, order["order_id"]):
            assert proc.poll() is None, proc.communicate()[1][-3000:]
            assert time.monotonic() < deadline, "the worker never reached Best Buy"
            time.sleep(0.05)
        # The lock is the dead worker's until it dies: a settle now is turned away, sends nothing.
        assert aftersale.settle(store, hook, intent["intent_id"]).outcome == "busy"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    row = store.money_intent(intent["intent_id"])
    assert row["status"] == "intent" and row["attempts"] == 1

    # The dead worker's lock goes with its database session, which PostgreSQL ends when it sees the
    # closed socket: a moment after the kill, not at it. Until then a sweep is turned away and sends
    # nothing (what the next scheduled sweep would meet).
    deadline = time.monotonic() + 30
    (result,) = aftersale.settle_open(store, hook)
    while result.outcome == "busy" and time.monotonic() < deadline:
        time.sleep(0.2)
        (result,) = aftersale.settle_open(store, hook)
    assert result.outcome == "done" and result.message == "found on the order when read back"
    assert len(_refunds_at_best_buy(sb, order["order_id"])) == 1
    assert len(sb.calls("mirakl", "OR28")) <= 1  # the hung call is logged when its hang ends


def test_a_refusal_fails_the_intent_and_sends_nothing_more(sb, hook, store):
    order = _order(sb, hook, store)
    req = aftersale.MoneyRequest(aftersale.REFUND, order["order_id"], order["order_lines"][0]["order_line_id"],
                                 "refund#1", "NOT_A_REASON", amount=Decimal("1.00"))
    intent = aftersale.plan(store, hook, req)
    result = aftersale.settle(store, hook, intent["intent_id"])
    assert result.outcome == "failed" and "REASON_CODE_NOT_FOUND" in result.message
    assert aftersale.settle(store, hook, intent["intent_id"]).outcome == "failed"
    assert len(sb.calls("mirakl", "OR28")) == 1


def test_a_cancelation_of_some_units_once_under_a_dropped_answer(sb, hook, store):
    from sandbox.catalog import PRODUCTS_BY_SKU

    sku = next(iter(PRODUCTS_BY_SKU))
    order = _order(sb, hook, store, ship=False, lines=[(sku, 3)])
    line = order["order_lines"][0]
    req = aftersale.MoneyRequest(aftersale.CANCEL, order["order_id"], line["order_line_id"], "cancel#1",
                                 "OUT_OF_STOCK", quantity=2, requested_by="packer1")
    intent = aftersale.plan(store, hook, req)
    assert Decimal(str(intent["amount"])) == Decimal(str(line["price_unit"])) * 2
    sb.set_faults("mirakl", "OR30", drop_rate=1, count=1)
    assert aftersale.settle(store, hook, intent["intent_id"]).outcome == "done"
    cancels = sb.state("mirakl")["cancelations"][order["order_id"]]
    assert [c["quantity"] for c in cancels] == [2]
    assert hook.get_order(order["order_id"])["order_state"] == "SHIPPING"  # the last unit still ships
    with pytest.raises(aftersale.AmountRefused):
        aftersale.plan(store, hook, aftersale.MoneyRequest(aftersale.CANCEL, order["order_id"], line["order_line_id"],
                                                           "cancel#2", "OUT_OF_STOCK", quantity=2))


def test_a_partial_cancelation_is_in_the_orders_history_with_who_why_and_which_lines(sb, hook, store):
    """Flow 1: no status changes, yet the history says who canceled which units and why, written in
    the transaction that settled the intent (settled again: no second entry)."""
    from sandbox.catalog import PRODUCTS_BY_SKU

    sku = next(iter(PRODUCTS_BY_SKU))
    order = _order(sb, hook, store, ship=False, lines=[(sku, 3)])
    order_id, line_id = order["order_id"], order["order_lines"][0]["order_line_id"]
    store.record_transition(order_id, "accepted", detail={"reason": "test"})
    req = aftersale.MoneyRequest(aftersale.CANCEL, order_id, line_id, "cancel#1", "OUT_OF_STOCK", quantity=2,
                                 requested_by="packer1", note="two units short")
    intent = aftersale.plan(store, hook, req)
    settled = aftersale.settle(store, hook, intent["intent_id"])
    assert settled.outcome == "done"
    assert aftersale.settle(store, hook, intent["intent_id"]).outcome == "done"
    label = {r.code: r.label for r in hook.list_reasons("CANCELATION")}["OUT_OF_STOCK"]

    (event,) = store.order_events(order_id)
    assert event["kind"] == "lines_canceled" and event["actor"] == "packer1"
    assert event["detail"]["reason_code"] == "OUT_OF_STOCK" and event["detail"]["reason_label"] == label
    assert event["detail"]["lines"] == [{"order_line_id": line_id, "quantity": 2}]
    assert event["detail"]["mirakl_id"] == settled.mirakl_id and event["detail"]["note"] == "two units short"
    timeline = store.history_with_events(order_id)
    assert [(h["entry"], h["status"]) for h in timeline][-2:] == [("status", "accepted"), ("lines_canceled", None)]
    assert [h["status"] for h in store.history(order_id)][-1] == "accepted"  # no status of its own


def test_order_events_are_append_only(sb, hook, store, fresh_db):
    import psycopg2

    order = _order(sb, hook, store, ship=False)
    store.record_order_event(order["order_id"], "lines_canceled", actor="packer1", detail={})
    for statement in ("UPDATE order_events SET actor = 'x'", "DELETE FROM order_events"):
        conn = psycopg2.connect(fresh_db)
        try:
            with pytest.raises(psycopg2.Error, match="append-only"), conn.cursor() as cur:
                cur.execute(statement)
        finally:
            conn.close()
    assert len(store.order_events(order["order_id"])) == 1
