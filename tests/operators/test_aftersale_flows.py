"""After-sale flows over the real steps (issue 13): a seller cancelation before shipping voids the
bought label through the void step; a partial cancelation keeps the rest flowing; refunds move the
order to partially_refunded / refunded. Sandbox over HTTP, real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
import requests

from orderflow import aftersale_flows as flows
from orderflow.hooks.mirakl import MiraklHook
from orderflow.operators import (
    AcceptOrdersOperator,
    BuyLabelsOperator,
    IngestOrdersOperator,
    PushTrackingOperator,
    VoidCanceledLabelsOperator,
)
from sandbox.catalog import PRODUCTS_BY_SKU
from sandbox.testing import running_sandbox
from tests.operators._helpers import Env, make_env, run

SKUS = list(PRODUCTS_BY_SKU)


@pytest.fixture
def env(fresh_db, monkeypatch, tmp_path) -> Iterator[Env]:
    with running_sandbox(seed=53, debit_delay=0.0) as sb:
        e = make_env(fresh_db, monkeypatch, tmp_path, sb)
        yield e
        e.store.close()


@pytest.fixture
def hook(env) -> Iterator[MiraklHook]:
    h = MiraklHook()
    yield h
    h.close()


def labelled(env: Env, lines=None) -> str:
    (order_id,) = env.sb.generate_orders(1, lines=lines)
    run(IngestOrdersOperator, run_id="manual__prep", task_id="ingest.fetch_orders")
    run(AcceptOrdersOperator, run_id="manual__prep", task_id="acceptance.accept_orders")
    env.sb.advance(5)
    run(BuyLabelsOperator, run_id="manual__prep", task_id="shipping.buy_labels")
    assert env.statuses()[order_id] == "label_created"
    return order_id


def test_seller_cancelation_of_a_labelled_order_voids_its_label(env, hook):
    order_id = labelled(env, lines=[(SKUS[0], 1), (SKUS[1], 1)])
    lines = [ln["order_line_id"] for ln in hook.get_order(order_id)["order_lines"]]
    result = flows.cancel_lines(env.store, hook, order_id, {lid: 1 for lid in lines}, "DAMAGED_BEFORE_SHIPPING",
                                requested_by="packer1", note="screen cracked at the table")
    assert result.all_done and result.status == "canceled_by_seller"
    last = env.store.history(order_id)[-1]
    assert last["status"] == "canceled_by_seller" and last["actor"] == "packer1"
    assert last["detail"]["reason_code"] == "DAMAGED_BEFORE_SHIPPING" and last["detail"]["label_to_void"] is True
    assert env.sb.state("mirakl")["orders"][order_id]["state"] == "CANCELED"
    # Ingest later sees Best Buy's CANCELED: ours stays ours.
    run(IngestOrdersOperator, run_id="manual__later", task_id="ingest.fetch_orders")
    assert env.statuses()[order_id] == "canceled_by_seller"

    summary = run(VoidCanceledLabelsOperator, run_id="manual__void", task_id="shipping.void_canceled_labels")
    assert summary["recorded"] == {"voided": 1}
    (row,) = env.store.shipments_for_order(order_id)
    assert row["status"] == "voided"
    answer = requests.get(f"{env.sb.canadapost_url}/__admin/shipments",
                          params={"customer_request_id": f"{order_id}-1"}, timeout=5).json()["shipments"]
    assert [s["status"] for s in answer] == ["voided"]
    assert len(env.sb.calls("mirakl", "OR30")) == 2  # one per line, each once


def test_partial_cancelation_keeps_the_rest_flowing(env, hook):
    order_id = labelled(env, lines=[(SKUS[0], 1), (SKUS[1], 2)])
    line = hook.get_order(order_id)["order_lines"][1]["order_line_id"]
    result = flows.cancel_lines(env.store, hook, order_id, {line: 1}, "OUT_OF_STOCK", requested_by="agent1")
    assert result.all_done and result.status == "label_created"
    (intent,) = env.store.money_intents_for_order(order_id)
    assert intent["requested_by"] == "agent1" and intent["quantity"] == 1 and intent["status"] == "done"
    (event,) = [h for h in env.store.history_with_events(order_id) if h["entry"] == "lines_canceled"]
    assert event["actor"] == "agent1" and event["detail"]["lines"] == [{"order_line_id": line, "quantity": 1}]
    assert event["detail"]["reason_code"] == "OUT_OF_STOCK" and event["detail"]["reason_label"]
    run(PushTrackingOperator, run_id="manual__ship", task_id="tracking.push_tracking")
    assert env.statuses()[order_id] == "shipped"
    with pytest.raises(flows.FlowRefused):
        flows.cancel_lines(env.store, hook, order_id, {line: 1}, "OUT_OF_STOCK", requested_by="agent1")


def test_refunds_move_a_shipped_order_to_partially_refunded_then_refunded(env, hook):
    order_id = labelled(env, lines=[(SKUS[0], 1)])
    with pytest.raises(flows.FlowRefused):
        flows.refund_line(env.store, hook, order_id, f"{order_id}-1", "GOODWILL", amount=Decimal("5.00"),
                          requested_by="agent1")
    run(PushTrackingOperator, run_id="manual__ship", task_id="tracking.push_tracking")
    _order, (preview,) = flows.preview_lines(env.store, hook, order_id, "refund")
    assert preview.next_purpose == "refund#1" and preview.balance.amount_left == preview.price
    first = flows.refund_line(env.store, hook, order_id, preview.order_line_id, "GOODWILL", amount=Decimal("5.00"),
                              requested_by="agent1", purpose=preview.next_purpose)
    assert first.all_done and first.status == "partially_refunded"
    # The same form posted again is the same refund.
    again = flows.refund_line(env.store, hook, order_id, preview.order_line_id, "GOODWILL", amount=Decimal("5.00"),
                              requested_by="agent1", purpose=preview.next_purpose)
    assert again.settled[0].mirakl_id == first.settled[0].mirakl_id
    rest = flows.refund_line(env.store, hook, order_id, preview.order_line_id, "ITEM_RETURNED", amount=None,
                             requested_by="agent1")
    assert rest.all_done and rest.status == "refunded"
    assert [h["status"] for h in env.store.history(order_id)][-2:] == ["partially_refunded", "refunded"]
    assert len(env.sb.state("mirakl")["refunds"][order_id]) == 2
    assert len(env.sb.calls("mirakl", "OR28")) == 2


def test_the_settle_money_task_finishes_a_refund_a_killed_page_request_left(env, hook):
    """The page's request died after Best Buy refunded (attempts committed, nothing recorded): the
    returns.settle_money task reads the order back, adopts the refund and moves the order, sends nothing."""
    from orderflow import aftersale
    from orderflow.operators.returns import SettleMoneyOperator

    order_id = labelled(env, lines=[(SKUS[0], 1)])
    run(PushTrackingOperator, run_id="manual__ship", task_id="tracking.push_tracking")
    line_id = f"{order_id}-1"
    intent = aftersale.plan(env.store, hook, aftersale.MoneyRequest(
        aftersale.REFUND, order_id, line_id, "refund#1", "GOODWILL", amount=Decimal("7.00"), requested_by="agent1"))
    env.store.mark_money_attempt(intent["intent_id"])
    hook.refund_lines([aftersale.intent_money(env.store.money_intent(intent["intent_id"]))])  # then the kill
    assert env.store.money_intent(intent["intent_id"])["status"] == "intent"

    summary = run(SettleMoneyOperator, run_id="manual__settle", task_id="returns.settle_money")
    assert summary == {"done": 1}
    row = env.store.money_intent(intent["intent_id"])
    assert row["status"] == "done" and row["mirakl_id"] == env.sb.state("mirakl")["refunds"][order_id][0]["id"]
    assert env.statuses()[order_id] == "partially_refunded"
    assert len(env.sb.calls("mirakl", "OR28")) == 1
    assert run(SettleMoneyOperator, run_id="manual__settle2", task_id="returns.settle_money") == {}
