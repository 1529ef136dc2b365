"""Voiding (or refunding) the Canada Post label of an order Best Buy canceled after we bought it.

Against the sandbox over HTTP and a fresh PostgreSQL order DB, on both Canada Post transports (XML
gateway, Developer Portal); the non-contract path (XML only) where only a refund exists. The
carrier's side is read from the sandbox's own state and call log, ours from the store.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from airflow.sdk.exceptions import AirflowFailException

from orderflow.hooks.canadapost import CanadaPostHook
from orderflow.operators import (
    AcceptOrdersOperator,
    BuyLabelsOperator,
    IngestOrdersOperator,
    VoidCanceledLabelsOperator,
)
from orderflow.operators.errors import OrderflowTransientError
from sandbox.testing import running_sandbox
from tests.operators._helpers import Env, connect, make_env, run

TRANSPORTS = ["xml", "portal"]
GROUP = "VOID-TEST"
REFUND_EMAIL = "refunds@example.ca"
VOID_TASK = "shipping.void_canceled_labels"


def _env(fresh_db: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Any, api: str, **cp_extras: Any) -> Iterator[Env]:
    with running_sandbox(seed=43, debit_delay=0.0) as sb:
        e = make_env(fresh_db, monkeypatch, tmp_path, sb, api=api)
        # A literal group (so a test can transmit it) and where Canada Post sends refund tickets.
        connect(sb, monkeypatch, api, refund_email=REFUND_EMAIL, **({"group_id": GROUP} | cp_extras))
        yield e
        e.store.close()


@pytest.fixture(params=TRANSPORTS)
def env(request, fresh_db, monkeypatch, tmp_path) -> Iterator[Env]:
    yield from _env(fresh_db, monkeypatch, tmp_path, request.param)


def labelled(env: Env, n: int) -> list[str]:
    """n orders with a stored Canada Post label (``label_created``)."""
    ids = env.sb.generate_orders(n)
    run(IngestOrdersOperator, run_id="manual__prep", task_id="ingest.fetch_orders")
    run(AcceptOrdersOperator, run_id="manual__prep", task_id="acceptance.accept_orders")
    env.sb.advance(5)
    run(BuyLabelsOperator, run_id="manual__prep", task_id="shipping.buy_labels")
    assert {env.statuses()[i] for i in ids} == {"label_created"}
    return ids


def cancel_at_best_buy(env: Env, *order_ids: str, run_id: str = "manual__cancel") -> None:
    for order_id in order_ids:
        requests.post(f"{env.sb.mirakl_url}/__admin/cancel", json={"order_id": order_id},
                      timeout=5).raise_for_status()
    run(IngestOrdersOperator, run_id=run_id, task_id="ingest.fetch_orders")
    assert {env.statuses()[i] for i in order_ids} == {"canceled"}


def carrier_shipments(env: Env, order_id: str) -> list[dict[str, Any]]:
    """Canada Post's (sandbox's) own record of the order's package, voided ones included."""
    answer = requests.get(f"{env.sb.canadapost_url}/__admin/shipments",
                          params={"customer_request_id": f"{order_id}-1"}, timeout=5)
    answer.raise_for_status()
    return answer.json()["shipments"]


def cp_writes(env: Env, since: int) -> list[str]:
    return [c.endpoint or c.path for c in env.sb.calls("canadapost", since=since)
            if c.method in ("POST", "DELETE", "PUT") and c.endpoint != "oauth_token"]


def mark(env: Env) -> int:
    return len(env.sb.calls("canadapost"))


def shipment_row(env: Env, order_id: str) -> dict[str, Any]:
    (row,) = env.store.shipments_for_order(order_id)
    return row


# --------------------------------------------------------------------------------------------


def test_the_label_of_an_order_canceled_after_it_is_voided_once(env: Env) -> None:
    canceled, kept = labelled(env, 2)
    cancel_at_best_buy(env, canceled)
    history_before = env.store.history(canceled)
    assert history_before[-1]["detail"]["label_to_void"] is True

    summary = run(VoidCanceledLabelsOperator, run_id="manual__v1", task_id=VOID_TASK)

    assert summary["recorded"] == {"voided": 1}
    # Canada Post: the canceled order's label is voided, the other one still live.
    (at_carrier,) = carrier_shipments(env, canceled)
    assert at_carrier["status"] == "voided" and not at_carrier["refunded"]
    active = env.active_shipments()
    assert f"{canceled}-1" not in active and len(active[f"{kept}-1"]) == 1
    # Our row says so, with the audit; the order's history is untouched ('canceled' is final).
    row = shipment_row(env, canceled)
    assert row["status"] == "voided" and row["voided_at"] is not None and row["refund_ticket_id"] is None
    assert row["void_detail"]["how"].startswith("voided") and row["void_detail"]["run_id"] == "manual__v1"
    assert row["void_detail"]["shipment_id"] == at_carrier["shipment_id"] and row["error"] is None
    assert env.store.history(canceled) == history_before
    assert shipment_row(env, kept)["status"] == "label_stored"

    # A re-run after success: nothing to do, no Canada Post write call.
    since = mark(env)
    summary = run(VoidCanceledLabelsOperator, run_id="manual__v2", task_id=VOID_TASK)
    assert summary["recorded"] == {} and summary["calls"] == {}
    assert cp_writes(env, since) == []


def test_a_transmitted_label_gets_one_refund_request_and_its_ticket(env: Env) -> None:
    canceled, kept = labelled(env, 2)
    CanadaPostHook().transmit([GROUP])  # manifested: Canada Post can no longer void them (8064)
    cancel_at_best_buy(env, canceled)

    summary = run(VoidCanceledLabelsOperator, run_id="manual__v1", task_id=VOID_TASK)

    assert summary["recorded"] == {"refund_requested": 1}
    assert summary["calls"] == {"CP_void": 1, "CP_refund": 1}
    (at_carrier,) = carrier_shipments(env, canceled)
    assert at_carrier["refunded"] and at_carrier["status"] == "transmitted"
    ticket = env.sb.canadapost.store.shipments[at_carrier["shipment_id"]].refund["service-ticket-id"]
    row = shipment_row(env, canceled)
    assert row["status"] == "refund_requested" and row["refund_ticket_id"] == ticket
    assert row["refund_requested_at"] is not None and row["voided_at"] is None
    assert row["void_detail"]["void_answer"]["codes"] == ["8064"]
    assert row["void_detail"]["already_requested"] is False
    assert not carrier_shipments(env, kept)[0]["refunded"]
    refunds = len(env.sb.calls("canadapost", "refund_shipment"))
    assert refunds == 1

    # A second run does nothing: no void, no second refund request.
    since = mark(env)
    summary = run(VoidCanceledLabelsOperator, run_id="manual__v2", task_id=VOID_TASK)
    assert summary["recorded"] == {} and cp_writes(env, since) == []
    assert len(env.sb.calls("canadapost", "refund_shipment")) == refunds
    assert env.sb.state("canadapost")["refunds"] == 1


def test_a_lost_void_answer_retries_and_a_look_up_settles_it(env: Env) -> None:
    (order_id,) = labelled(env, 1)
    cancel_at_best_buy(env, order_id)
    # Canada Post voids the shipment, then the connection drops before any answer.
    env.sb.set_faults("canadapost", "void_shipment", drop_rate=1, count=1)

    with pytest.raises(OrderflowTransientError, match=f"{order_id}-1"):
        run(VoidCanceledLabelsOperator, run_id="manual__v", task_id=VOID_TASK)
    assert shipment_row(env, order_id)["status"] == "label_stored"  # not known to be voided: stays live
    assert carrier_shipments(env, order_id)[0]["status"] == "voided"

    # The task's retry: the void answers 404, which is no proof by itself; the look-up (404 too) is.
    summary = run(VoidCanceledLabelsOperator, run_id="manual__v", try_number=2, task_id=VOID_TASK)
    assert summary["recorded"] == {"voided": 1}
    assert summary["calls"] == {"CP_void": 1, "CP_get": 1}
    row = shipment_row(env, order_id)
    assert row["status"] == "voided" and row["void_detail"]["how"].startswith("already voided")
    assert len(carrier_shipments(env, order_id)) == 1


def test_labels_of_orders_not_canceled_are_never_touched(env: Env) -> None:
    shipped_later, canceled_unseen = labelled(env, 2)
    # Best Buy canceled the second order, but we have not seen it yet: our status decides, not theirs.
    requests.post(f"{env.sb.mirakl_url}/__admin/cancel", json={"order_id": canceled_unseen},
                  timeout=5).raise_for_status()
    rows_before = {i: shipment_row(env, i) for i in (shipped_later, canceled_unseen)}
    since = mark(env)

    summary = run(VoidCanceledLabelsOperator, run_id="manual__v", task_id=VOID_TASK)

    assert summary["recorded"] == {} and summary["calls"] == {}
    assert summary["waiting"] == 0  # not even a candidate
    assert env.sb.calls("canadapost", since=since) == []  # not even a read
    assert {i: shipment_row(env, i) for i in rows_before} == rows_before
    assert {len(env.active_shipments()[f"{i}-1"]) for i in rows_before} == {1}
    assert {env.statuses()[i] for i in rows_before} == {"label_created"}


def test_a_refused_refund_fails_that_label_only_and_waits_for_a_person(env: Env) -> None:
    ids = labelled(env, 2)
    CanadaPostHook().transmit([GROUP])
    cancel_at_best_buy(env, *ids)
    env.sb.set_faults("canadapost", "refund_shipment", error_rate=1, error_statuses=[400], count=1)

    with pytest.raises(AirflowFailException, match="neither voided nor refunded") as err:
        run(VoidCanceledLabelsOperator, run_id="manual__v", task_id=VOID_TASK)

    rows = {i: shipment_row(env, i) for i in ids}
    (failed,) = [i for i in ids if rows[i]["status"] == "label_stored"]
    (refunded,) = [i for i in ids if i != failed]
    assert f"{failed}-1" in str(err.value) and f"{refunded}-1" not in str(err.value)
    assert rows[refunded]["status"] == "refund_requested" and rows[refunded]["refund_ticket_id"]
    error = rows[failed]["error"]
    assert error["step"] == "void_labels" and error["run_id"] == "manual__v" and error["http_status"] == 400
    assert not carrier_shipments(env, failed)[0]["refunded"]

    # A scheduled run leaves it to a person: no Canada Post call, the run stays green.
    since = mark(env)
    summary = run(VoidCanceledLabelsOperator, run_id="scheduled__later", task_id=VOID_TASK)
    assert summary["recorded"] == {} and env.sb.calls("canadapost", since=since) == []

    # The person clears the failed task: the same run re-attempts exactly that label.
    summary = run(VoidCanceledLabelsOperator, run_id="manual__v", try_number=2, task_id=VOID_TASK)
    assert summary["recorded"] == {"refund_requested": 1}
    row = shipment_row(env, failed)
    assert row["status"] == "refund_requested" and row["refund_ticket_id"] and row["error"] is None
    assert carrier_shipments(env, failed)[0]["refunded"]


def test_a_shipment_locked_by_another_worker_is_left_to_it(env: Env) -> None:
    (order_id,) = labelled(env, 1)
    cancel_at_best_buy(env, order_id)
    since = mark(env)
    with env.store.shipment_lock(f"{order_id}-1") as locked:
        assert locked
        summary = run(VoidCanceledLabelsOperator, run_id="manual__v", task_id=VOID_TASK)
    assert summary["recorded"] == {} and summary["waiting"] == 1
    assert cp_writes(env, since) == [] and shipment_row(env, order_id)["status"] == "label_stored"
    run(VoidCanceledLabelsOperator, run_id="manual__v2", task_id=VOID_TASK)
    assert shipment_row(env, order_id)["status"] == "voided"


@pytest.fixture
def nc_env(fresh_db, monkeypatch, tmp_path) -> Iterator[Env]:
    """Non-contract shipping (XML gateway only): no void exists, a refund is the way back."""
    yield from _env(fresh_db, monkeypatch, tmp_path, "xml", contract_id="", group_id="none")


def test_a_non_contract_label_is_refunded_without_a_void_call(nc_env: Env) -> None:
    env = nc_env
    (order_id,) = labelled(env, 1)
    cancel_at_best_buy(env, order_id)

    summary = run(VoidCanceledLabelsOperator, run_id="manual__v", task_id=VOID_TASK)

    assert summary["recorded"] == {"refund_requested": 1} and summary["calls"] == {"CP_refund": 1}
    assert env.sb.calls("canadapost", "void_shipment") == []
    row = shipment_row(env, order_id)
    sandbox_shipment = env.sb.canadapost.store.shipments[row["shipment_id"]]
    assert row["status"] == "refund_requested"
    assert row["refund_ticket_id"] == sandbox_shipment.refund["service-ticket-id"]
    since = mark(env)
    run(VoidCanceledLabelsOperator, run_id="manual__v2", task_id=VOID_TASK)
    assert cp_writes(env, since) == []
