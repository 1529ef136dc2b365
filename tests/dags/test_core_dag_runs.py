"""orderflow_core end to end with real Airflow (``dag.test()``), the sandbox over HTTP and PostgreSQL.

50 sandbox orders go from WAITING_ACCEPTANCE to SHIPPED in two runs (Best Buy's debit happens
between them); a third run makes no write call to either API. A run in which one order fails
permanently ends failed (red), and the failure is recorded for that order only.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from airflow.dag_processing.dagbag import DagBag

from sandbox.testing import running_sandbox
from tests.operators._helpers import Env, make_env

DAGS = Path(__file__).resolve().parents[2] / "dags"
ORDER_TASKS = ["ingest.fetch_orders", "acceptance.accept_orders", "shipping.buy_labels",
               "shipping.void_canceled_labels", "tracking.push_tracking"]


@pytest.fixture(scope="module")
def core_dag() -> Any:
    bag = DagBag(dag_folder=str(DAGS))
    assert not bag.import_errors
    return bag.dags["orderflow_core"]


@pytest.fixture(params=["xml", "portal"])
def core_env(request, airflow_db, fresh_db, monkeypatch, tmp_path) -> Iterator[Env]:
    """The sandbox and a fresh order DB, with Canada Post over either transport (issue 9)."""
    # A debit that takes an hour of sandbox time: the test moves the clock between runs.
    with running_sandbox(seed=21, debit_delay=3600.0) as sb:
        env = make_env(fresh_db, monkeypatch, tmp_path, sb, api=request.param)
        yield env
        env.store.close()


def task_states(dag_run: Any) -> dict[str, str | None]:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(TaskInstance.task_id, TaskInstance.state).filter(
            TaskInstance.dag_id == dag_run.dag_id, TaskInstance.run_id == dag_run.run_id
        )
        return {task_id: (str(state.value) if hasattr(state, "value") else state) for task_id, state in rows}


def write_calls(env: Env, since_mirakl: int, since_cp: int) -> Counter[str]:
    writes: Counter[str] = Counter()
    for c in env.sb.calls("mirakl", since=since_mirakl):
        if c.method != "GET":
            writes[c.endpoint or c.path] += 1
    for c in env.sb.calls("canadapost", since=since_cp):
        if c.method != "GET" and c.endpoint != "oauth_token":
            writes[c.endpoint or c.path] += 1
    return writes


def test_fifty_orders_reach_shipped_and_a_rerun_writes_nothing(core_dag: Any, core_env: Env) -> None:
    env = core_env
    ids = env.sb.generate_orders(50)
    # Customers write about some of them (hostile, long and non-Latin bodies among them).
    threads = {thread_id for thread_id, _ in env.sb.generate_messages(12)}

    first = core_dag.test()
    states = task_states(first)
    assert all(states[t] == "success" for t in ORDER_TASKS), states
    assert {env.statuses()[i] for i in ids} == {"accepted"}  # debiting: no label yet, no failure
    assert not env.all_shipments()

    env.sb.advance(3700)  # Best Buy debits every order and releases the addresses
    second = core_dag.test()
    states = task_states(second)
    assert all(states[t] == "success" for t in ORDER_TASKS), states
    assert {env.statuses()[i] for i in ids} == {"shipped"}

    # Exactly one shipment per order at Canada Post; Best Buy heard OR23 and OR24 once each.
    shipments = env.all_shipments()
    assert {crid: len(v) for crid, v in shipments.items()} == {f"{i}-1": 1 for i in ids}
    mirakl = env.sb.state("mirakl")["orders"]
    assert {(mirakl[i]["tracking_updates"], mirakl[i]["ship_confirmations"]) for i in ids} == {(1, 1)}
    counts = write_calls(env, 0, 0)
    assert counts["OR21"] == 50 and counts["OR23"] == 50 and counts["OR24"] == 50
    assert counts["create_shipment"] == 50
    # Batches, not one call per order: OR11 by order_ids covers 100 orders a call.
    or11 = len(env.sb.calls("mirakl", "OR11"))
    assert or11 <= 10, or11
    per_order = {k: v / 50 for k, v in sorted(Counter(
        c.endpoint for svc in ("mirakl", "canadapost") for c in env.sb.calls(svc)).items())}
    # One write per order and step; reads come in batches (7 OR11 calls for 50 orders here).
    assert all(per_order[k] == 1.0 for k in ("OR21", "OR23", "OR24", "create_shipment", "get_artifact")), per_order
    assert per_order["OR11"] <= 0.2, per_order

    # Every history row of the run carries its run id.
    for order_id in ids[:5]:
        rows = env.store.history(order_id)
        assert [r["status"] for r in rows] == ["pending_acceptance", "accepted", "label_created", "shipped"]
        assert {r["run_id"] for r in rows} == {first.run_id, second.run_id}

    # Every conversation that needed a reply got exactly one auto-reply (M12), recorded as such.
    m12 = Counter(c.path.split("/")[4] for c in env.sb.calls("mirakl", "M12"))
    assert set(m12) == threads and set(m12.values()) == {1}, m12
    with env.store.transaction() as cur:
        cur.execute(
            "SELECT c.mirakl_thread_id, count(m.message_id) AS replies FROM conversations c "
            "LEFT JOIN messages m ON m.conversation_id = c.conversation_id AND m.is_auto_reply "
            "GROUP BY c.mirakl_thread_id"
        )
        replies = {r["mirakl_thread_id"]: r["replies"] for r in cur.fetchall()}
    assert replies == dict.fromkeys(threads, 1)

    # A third run finds nothing to do: no write call to either API (no OR21/OR23/OR24, no label, no M12).
    mark_m, mark_c = len(env.sb.calls("mirakl")), len(env.sb.calls("canadapost"))
    third = core_dag.test()
    assert all(task_states(third)[t] == "success" for t in ORDER_TASKS)
    assert write_calls(env, mark_m, mark_c) == Counter()
    assert {env.statuses()[i] for i in ids} == {"shipped"}


def test_a_permanent_failure_makes_the_run_red_and_spares_the_others(core_dag: Any, core_env: Env) -> None:
    env = core_env
    env.sb.mirakl.configure(debit_delay=0.0)
    ids = env.sb.generate_orders(3)
    # Canada Post refuses the first create of this run with a validation error.
    env.sb.set_faults("canadapost", "create_shipment", error_rate=1, error_statuses=[400], count=1)

    run = core_dag.test()

    states = task_states(run)
    assert states["shipping.buy_labels"] == "failed"
    assert states["tracking.push_tracking"] == "success"  # the other orders still shipped
    assert states["run_verdict"] == "failed"
    assert str(getattr(run.state, "value", run.state)) == "failed"
    statuses = env.statuses()
    assert sorted(statuses[i] for i in ids) == ["label_failed", "shipped", "shipped"]
