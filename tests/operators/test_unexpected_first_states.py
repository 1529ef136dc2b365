"""Orders first seen in an unexpected state (issue 12 item 7): accepted, even shipped, by hand in
Best Buy's portal before orderflow saw them, or in a state Best Buy's API does not document.

Each gets a status from ``lifecycle.first_status`` (the reason in the history), and the steps then
treat it by what Best Buy shows: WAITING_DEBIT waits, SHIPPING ships, SHIPPED (or later) never buys
a label nor sends OR23/OR24 and lands where a person looks (the Grafana panel, run for real).
"""

from __future__ import annotations

from airflow.sdk.exceptions import AirflowFailException

from orderflow.hooks.mirakl import MiraklHook
from orderflow.operators import AcceptOrdersOperator, BuyLabelsOperator, IngestOrdersOperator, PushTrackingOperator
from tests.operators._helpers import Env, run
from tests.person_views import seen_by_a_person


def portal() -> MiraklHook:
    """A person in Best Buy's portal (the same API, outside orderflow)."""
    return MiraklHook("mirakl_default")


def accept_by_hand(env: Env, order_id: str) -> None:
    (order,) = portal().list_orders(order_ids=[order_id])
    portal().accept_order(order_id, [line["order_line_id"] for line in order["order_lines"]])


def ship_by_hand(env: Env, order_id: str) -> None:
    accept_by_hand(env, order_id)
    env.sb.advance(5)
    portal().set_tracking(order_id, "CPCL", "7023210039414604")
    portal().mark_shipped(order_id)


def mirakl_state(env: Env, order_id: str) -> str:
    return env.sb.state("mirakl")["orders"][order_id]["state"]


def run_steps(env: Env, run_id: str) -> list[str]:
    """One run's order steps in DAG order; a failed step (orders for a person) lets the next run."""
    errors = []
    for cls, task in ((IngestOrdersOperator, "ingest.fetch_orders"),
                      (AcceptOrdersOperator, "acceptance.accept_orders"),
                      (BuyLabelsOperator, "shipping.buy_labels"),
                      (PushTrackingOperator, "tracking.push_tracking")):
        try:
            run(cls, run_id=run_id, task_id=task)
        except AirflowFailException as exc:
            errors.append(f"{task}: {exc}")
    return errors


def test_orders_accepted_by_hand_get_accepted_and_ship_by_best_buys_state(env: Env) -> None:
    (debited,) = env.sb.generate_orders(1)
    accept_by_hand(env, debited)
    env.sb.advance(5)  # debited: SHIPPING
    env.sb.mirakl.configure(debit_delay=3600)
    (late,) = env.sb.generate_orders(1)
    accept_by_hand(env, late)  # still debiting for an hour
    assert mirakl_state(env, late) == "WAITING_DEBIT_PAYMENT" and mirakl_state(env, debited) == "SHIPPING"

    run(IngestOrdersOperator, run_id="manual__u1", task_id="ingest.fetch_orders")

    statuses = env.statuses()
    assert statuses[late] == "accepted" and statuses[debited] == "accepted"
    first = env.store.history(late)[0]
    assert first["status"] == "accepted" and first["from_status"] is None
    assert "outside orderflow" in first["detail"]["reason"]
    assert first["detail"]["mirakl_state"] == "WAITING_DEBIT_PAYMENT"

    creates_before = len(env.sb.calls("canadapost", "create_shipment"))
    run(BuyLabelsOperator, run_id="manual__u1", task_id="shipping.buy_labels")
    statuses = env.statuses()
    assert statuses[late] == "accepted"  # waits for the debit, no label, no failure
    assert statuses[debited] == "label_created"
    assert len(env.sb.calls("canadapost", "create_shipment")) - creates_before == 1
    assert list(env.active_shipments()) == [f"{debited}-1"]


def test_an_order_shipped_by_hand_never_gets_a_label_nor_tracking_and_a_person_sees_it(env: Env) -> None:
    (shipped,) = env.sb.generate_orders(1)
    ship_by_hand(env, shipped)
    assert mirakl_state(env, shipped) == "SHIPPED"
    or23_before = len(env.sb.calls("mirakl", "OR23"))
    or24_before = len(env.sb.calls("mirakl", "OR24"))

    for n in range(2):  # a second run changes nothing
        errors = run_steps(env, f"manual__s{n}")
    assert [e.split(":")[0] for e in errors] == []  # the second run: nothing new failed

    assert env.statuses()[shipped] == "label_failed"
    last = env.store.history(shipped)[-1]
    assert "shipped" in last["detail"]["reason"] and last["detail"]["mirakl_state"] == "SHIPPED"
    assert env.sb.calls("canadapost", "create_shipment") == []
    assert env.all_shipments() == {}
    assert len(env.sb.calls("mirakl", "OR23")) == or23_before
    assert len(env.sb.calls("mirakl", "OR24")) == or24_before
    assert seen_by_a_person(env.db_url, shipped, "label_failed")


def test_an_undocumented_first_state_gets_a_status_a_person_sees(env: Env) -> None:
    (odd,) = env.sb.generate_orders(1)
    service = env.sb.mirakl
    with service.lock:
        service._set_state(service.orders[odd], "ON_HOLD", service.now())

    errors = run_steps(env, "manual__odd")
    assert [e.split(":")[0] for e in errors] == ["acceptance.accept_orders"]

    status = env.statuses()[odd]
    assert status is not None
    assert seen_by_a_person(env.db_url, odd, status), status
    reasons = " ".join(h["detail"].get("reason", "") for h in env.store.history(odd))
    assert "ON_HOLD" in reasons
    assert env.sb.calls("mirakl", "OR21") == [] and env.sb.calls("canadapost", "create_shipment") == []
