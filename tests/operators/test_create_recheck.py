"""No quick second purchase (issue 12 item 4): after an ambiguous create, no new POST for that
request id until a look-up made at least CREATE_RECHECK_SECONDS after the doubt has found nothing.

Against the sandbox over HTTP with its visibility-delay fault (a created shipment that no look-up
lists for a while: a create still being processed, a search index behind) on every Canada Post
path: the XML contract gateway, XML non-contract, the portal (JSON). The carrier's side is read from
the sandbox's own state, ours from the store. The recheck window is 2 s here (120 s by default);
the sandbox's clock is moved to end a visibility delay, the real clock passes the window.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from orderflow.operators import AcceptOrdersOperator, BuyLabelsOperator, IngestOrdersOperator
from sandbox.testing import running_sandbox
from tests.operators._helpers import Env, connect, make_env, run

REPO = Path(__file__).resolve().parents[2]
RECHECK_SECONDS = 2.0
TASK = "shipping.buy_labels"
# (api, contract): the XML contract gateway, the portal (contract only), XML non-contract.
PATHS = [("xml", True), ("portal", True), ("xml", False)]


@pytest.fixture(params=PATHS, ids=["xml-contract", "portal", "xml-noncontract"])
def env(request, fresh_db, monkeypatch, tmp_path) -> Iterator[Env]:
    api, contract = request.param
    with running_sandbox(seed=47, debit_delay=0.0) as sb:
        e = make_env(fresh_db, monkeypatch, tmp_path, sb, api=api)
        if not contract:
            connect(sb, monkeypatch, api, contract_id="", group_id="none", refund_email="refunds@example.ca")
        monkeypatch.setenv("ORDERFLOW_CREATE_RECHECK_SECONDS", str(RECHECK_SECONDS))
        e.contract = contract  # type: ignore[attr-defined]
        yield e
        e.store.close()


def create_endpoint(env: Env) -> str:
    return "create_shipment" if env.contract else "create_nc_shipment"  # type: ignore[attr-defined]


def ready_to_ship(env: Env, n: int) -> list[str]:
    ids = env.sb.generate_orders(n)
    run(IngestOrdersOperator, run_id="manual__prep", task_id="ingest.fetch_orders")
    run(AcceptOrdersOperator, run_id="manual__prep", task_id="acceptance.accept_orders")
    env.sb.advance(5)
    assert {env.statuses()[i] for i in ids} == {"accepted"}
    return ids


def bought(env: Env, order_id: str) -> list[str]:
    """Canada Post's (the sandbox's) shipments for the order's package, on either kind of shipping."""
    crid = f"{order_id}-1"
    store = env.sb.canadapost.store
    with store.lock:
        return sorted(
            sh.shipment_id for sh in store.shipments.values()
            if crid in (sh.customer_request_id, sh.label["customer_ref_2"]) or sh.label["customer_ref_1"] == order_id
        )


def posts(env: Env) -> int:
    return len(env.sb.calls("canadapost", create_endpoint(env)))


def doubt_at(env: Env, order_id: str):
    (row,) = env.store.shipments_for_order(order_id)
    return row["create_doubt_at"]


def assert_waiting(env: Env, summary: dict, order_id: str) -> None:
    assert env.statuses()[order_id] == "accepted"  # not label_failed: it waits
    assert summary["waiting"] >= 1, summary
    trail = [h["status"] for h in env.store.history(order_id)]
    assert "label_failed" not in trail and "label_created" not in trail, trail
    (row,) = env.store.shipments_for_order(order_id)
    assert row["status"] == "intent" and row["create_doubt_at"] is not None


def wait_out_the_window(env: Env, order_id: str) -> None:
    """Let the real clock pass CREATE_RECHECK_SECONDS after the recorded doubt (DB clock)."""
    with env.store.transaction() as cur:
        cur.execute("SELECT extract(epoch FROM now() - create_doubt_at) AS age FROM shipments "
                    "WHERE customer_request_id = %s", (f"{order_id}-1",))
        age = float(cur.fetchone()["age"])
    time.sleep(max(0.0, RECHECK_SECONDS - age) + 0.2)


def test_lost_answer_of_a_hidden_create_waits_then_adopts_one_label(env: Env) -> None:
    (order_id, other) = ready_to_ship(env, 2)
    # Canada Post buys the label, the answer is lost, and no look-up lists it for a long while.
    env.sb.set_faults("canadapost", create_endpoint(env), drop_rate=1, visibility_delay_rate=1,
                      visibility_delay_seconds=600, count=1)

    first = run(BuyLabelsOperator, run_id="scheduled__r1", task_id=TASK)

    # No second POST right after the doubt: one shipment per package at Canada Post.
    assert {i: len(bought(env, i)) for i in (order_id, other)} == {order_id: 1, other: 1}
    (hit,) = [i for i in (order_id, other) if env.statuses()[i] == "accepted"]
    assert env.statuses()[order_id if hit == other else other] == "label_created"  # the other one went on
    assert first["recorded"] == {"label_created": 1} and first["waiting"] == 1
    assert_waiting(env, first, hit)
    creates = posts(env)

    # The next try, still inside the window and still hidden: looks up, buys nothing, waits.
    second = run(BuyLabelsOperator, run_id="scheduled__r1", try_number=2, task_id=TASK)
    assert_waiting(env, second, hit)
    assert posts(env) == creates and len(bought(env, hit)) == 1

    # Later the look-up lists it: the next run adopts it (one label, no POST).
    wait_out_the_window(env, hit)
    env.sb.advance(601)
    third = run(BuyLabelsOperator, run_id="scheduled__r2", task_id=TASK)
    assert third["recorded"] == {"label_created": 1}
    assert env.statuses()[hit] == "label_created"
    assert posts(env) == creates and len(bought(env, hit)) == 1
    detail = env.store.history(hit)[-1]["detail"]
    assert detail["adopted"] is True and detail["shipment"].startswith("adopted")
    (row,) = env.store.shipments_for_order(hit)
    assert row["shipment_id"] == bought(env, hit)[0] and row["status"] == "label_stored"


def test_a_look_up_inside_the_window_that_finds_it_resumes_at_once(env: Env) -> None:
    (order_id,) = ready_to_ship(env, 1)
    env.sb.set_faults("canadapost", create_endpoint(env), drop_rate=1, visibility_delay_rate=1,
                      visibility_delay_seconds=600, count=1)
    first = run(BuyLabelsOperator, run_id="scheduled__r1", task_id=TASK)
    assert len(bought(env, order_id)) == 1
    assert_waiting(env, first, order_id)
    creates = posts(env)

    env.sb.advance(601)  # visible now, well inside the 2 s window
    summary = run(BuyLabelsOperator, run_id="scheduled__r1", try_number=2, task_id=TASK)

    assert summary["recorded"] == {"label_created": 1}
    assert posts(env) == creates and len(bought(env, order_id)) == 1


def test_nothing_found_after_the_window_creates_exactly_once(env: Env) -> None:
    (order_id,) = ready_to_ship(env, 1)
    # A 5xx before Canada Post acted: nothing is bought, but the client cannot know that.
    env.sb.set_faults("canadapost", create_endpoint(env), error_rate=1, error_statuses=[503], count=1)

    first = run(BuyLabelsOperator, run_id="scheduled__r1", task_id=TASK)
    assert bought(env, order_id) == [] and posts(env) == 1  # no quick second POST
    assert_waiting(env, first, order_id)
    first_doubt = doubt_at(env, order_id)
    assert_waiting(env, run(BuyLabelsOperator, run_id="scheduled__r1", try_number=2, task_id=TASK), order_id)
    assert posts(env) == 1  # inside the window: no POST, however empty the look-up
    assert doubt_at(env, order_id) == first_doubt  # a look-up does not move the doubt

    wait_out_the_window(env, order_id)
    summary = run(BuyLabelsOperator, run_id="scheduled__r2", task_id=TASK)

    assert summary["recorded"] == {"label_created": 1}
    assert posts(env) == 2 and len(bought(env, order_id)) == 1
    assert env.store.history(order_id)[-1]["detail"]["shipment"] == "created"


KILL_DURING_CREATE = textwrap.dedent(
    """
    import sys
    from types import SimpleNamespace
    sys.path[:0] = [{plugins!r}, {repo!r}]
    from orderflow.operators import BuyLabelsOperator

    op = BuyLabelsOperator(task_id={task!r})
    op.execute({{"ti": SimpleNamespace(try_number=1), "run_id": "scheduled__killed"}})
    sys.exit(3)  # not reached: killed while the create hangs
    """
)


def test_the_doubt_survives_a_worker_killed_during_the_create(env: Env) -> None:
    (order_id,) = ready_to_ship(env, 1)
    # Canada Post buys the label and never answers; the label stays out of look-ups meanwhile.
    env.sb.set_faults("canadapost", create_endpoint(env), hang_rate=1, hang_after_commit=True, hang_seconds=600,
                      visibility_delay_rate=1, visibility_delay_seconds=600, count=1)
    script = KILL_DURING_CREATE.format(plugins=str(REPO / "plugins"), repo=str(REPO), task=TASK)
    proc = subprocess.Popen([sys.executable, "-c", script], env=os.environ.copy(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not bought(env, order_id):
            assert proc.poll() is None, proc.communicate()[1][-3000:]
            assert time.monotonic() < deadline, "the worker never reached Canada Post"
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    (row,) = env.store.shipments_for_order(order_id)
    assert row["status"] == "intent"
    # (The hung POST enters the sandbox's call log only when its hang ends, at teardown.)
    assert posts(env) == 0

    # The killed try's retry: the look-up finds nothing (hidden), the doubt is recent: no POST.
    retry = run(BuyLabelsOperator, run_id="scheduled__killed", try_number=2, task_id=TASK)
    assert posts(env) == 0 and len(bought(env, order_id)) == 1
    assert_waiting(env, retry, order_id)  # the doubt was in the DB before the POST went out

    wait_out_the_window(env, order_id)
    env.sb.advance(601)
    later = run(BuyLabelsOperator, run_id="scheduled__next", task_id=TASK)
    assert later["recorded"] == {"label_created": 1}
    assert posts(env) == 0 and len(bought(env, order_id)) == 1
    assert env.store.history(order_id)[-1]["detail"]["adopted"] is True


def test_the_void_step_waits_out_the_window_before_calling_an_intent_abandoned(env: Env) -> None:
    """Best Buy cancels an order whose create is in doubt (bought, hidden from look-ups): an empty
    look-up inside the window must not settle the intent as "nothing bought" (the label would stay
    paid); once the shipment is listed, the void step voids (or has refunded) it."""
    import requests

    from orderflow.operators import VoidCanceledLabelsOperator

    (order_id,) = ready_to_ship(env, 1)
    env.sb.set_faults("canadapost", create_endpoint(env), drop_rate=1, visibility_delay_rate=1,
                      visibility_delay_seconds=30, count=1)
    assert_waiting(env, run(BuyLabelsOperator, run_id="scheduled__r1", task_id=TASK), order_id)
    requests.post(f"{env.sb.mirakl_url}/__admin/cancel", json={"order_id": order_id}, timeout=5).raise_for_status()
    run(IngestOrdersOperator, run_id="manual__c", task_id="ingest.fetch_orders")
    assert env.statuses()[order_id] == "canceled"

    waiting = run(VoidCanceledLabelsOperator, run_id="manual__v1", task_id="shipping.void_canceled_labels")

    assert waiting["waiting"] == 1 and not waiting["recorded"], waiting
    (row,) = env.store.shipments_for_order(order_id)
    assert row["status"] == "intent"  # still stands for money: Canada Post holds a label

    # Listed now (inside the window: a look-up that finds it settles at once). Less than a tracking
    # step: a scanned non-contract parcel could not be refunded.
    env.sb.advance(31)
    run(VoidCanceledLabelsOperator, run_id="manual__v2", task_id="shipping.void_canceled_labels")

    (row,) = env.store.shipments_for_order(order_id)
    (shipment_id,) = bought(env, order_id)
    assert row["shipment_id"] == shipment_id and row["status"] in ("voided", "refund_requested")
    sh = env.sb.canadapost.store.shipments[shipment_id]
    assert sh.status == "voided" or sh.refund is not None


def test_a_create_canada_post_refused_unprocessed_clears_the_doubt(env: Env) -> None:
    """Throttled ("Rejected by SLM Monitor"): Canada Post did not act on the POST, so nothing is in
    doubt afterwards and the next try may POST at once (no window to wait out)."""
    import logging

    from orderflow.hooks._http import RetryPolicy
    from orderflow.hooks.canadapost import CanadaPostHook, CanadaPostThrottledError
    from orderflow.hooks.canadapost_model import Address, Parcel, References, ShipmentRequest
    from orderflow.operators.create_recheck import CreateGate

    (order_id,) = ready_to_ship(env, 1)
    crid = f"{order_id}-1"
    row = env.store.create_shipment_intent(order_id=order_id, package_no=1, customer_request_id=crid)
    assert row["inserted"] and row["create_doubt_at"] is not None  # the insert records it: a POST follows
    hook = CanadaPostHook(create_attempts=2, throttle_wait=0.0, sleep=lambda s: None,
                          retry_policy=RetryPolicy(max_attempts=2, initial_wait=0.0, max_wait=0.0))
    request = ShipmentRequest(
        destination=Address(name="X", address_line_1="1 Main St", city="Toronto", province="ON", postal_code="M5V3L9"),
        parcel=Parcel(1), customer_request_id=crid, references=References(customer_ref_1=order_id),
    )
    gate = CreateGate(hook, env.store, recheck_seconds=600, count_call=lambda name: None,
                      log=logging.getLogger("test"))
    env.sb.set_faults("canadapost", create_endpoint(env), throttle_rate=1, retry_after=0, count=2)

    with pytest.raises(CanadaPostThrottledError):
        gate.obtain(request, fresh_intent=True, doubt_at=row["create_doubt_at"])

    assert not env.store.create_doubt(crid).pending and bought(env, order_id) == []
    obtained = CreateGate(hook, env.store, recheck_seconds=600, count_call=lambda name: None,
                          log=logging.getLogger("test")).obtain(request, fresh_intent=False)
    assert obtained.outcome == "created" and bought(env, order_id) == [obtained.info.shipment_id]
