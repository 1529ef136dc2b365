"""Orders held by the claims of a try that has ended are taken at once (issue 12 item 9).

Real Airflow (``dag.test()`` of ``orderflow_core``), the sandbox over HTTP, PostgreSQL. A run's
shipping try is killed (SIGKILL) right after Canada Post answered for a package, before our commit:
its claims stay behind, naming the try. While Airflow still shows that task instance running, the
next run leaves the orders alone; once it is marked failed (what "mark failed" or stopping the run in
the UI does), the next run takes the orders at once, adopts the labels already bought (never buying
a second one) and ships them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from airflow.dag_processing.dagbag import DagBag

from sandbox.testing import running_sandbox
from tests.operators._helpers import Env, make_env

REPO = Path(__file__).resolve().parents[2]
DAGS = REPO / "dags"
SHIPPING = "shipping.buy_labels"

KILLED_RUN = textwrap.dedent(
    """
    import os, signal, sys
    sys.path[:0] = [{plugins!r}, {repo!r}]
    from orderflow.store import OrderStore

    def die(self, *args, **kwargs):
        # Canada Post has answered; our commit never happens, nor does any finally.
        os.kill(os.getpid(), signal.SIGKILL)

    OrderStore.mark_shipment_created = die
    from airflow.dag_processing.dagbag import DagBag

    DagBag(dag_folder={dags!r}).dags["orderflow_core"].test()
    sys.exit(3)  # not reached
    """
)


@pytest.fixture(scope="module")
def core_dag() -> Any:
    bag = DagBag(dag_folder=str(DAGS))
    assert not bag.import_errors
    return bag.dags["orderflow_core"]


@pytest.fixture
def env(airflow_db, fresh_db, monkeypatch, tmp_path) -> Iterator[Env]:
    with running_sandbox(seed=41, debit_delay=0.0) as sb:  # debited at once: one run reaches shipping
        e = make_env(fresh_db, monkeypatch, tmp_path, sb)
        yield e
        e.store.close()


def ti_state(run_id: str, task_id: str) -> str | None:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        ti = session.query(TaskInstance).filter(
            TaskInstance.dag_id == "orderflow_core", TaskInstance.run_id == run_id, TaskInstance.task_id == task_id
        ).one()
        return str(getattr(ti.state, "value", ti.state)) if ti.state is not None else None


def mark_failed_from_outside(run_id: str) -> None:
    """What stopping the run in the UI leaves in the metadata DB: the try's task instance and its run
    failed (the killed process can tell nobody)."""
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState, TaskInstanceState

    with create_session() as session:
        session.query(TaskInstance).filter(
            TaskInstance.dag_id == "orderflow_core", TaskInstance.run_id == run_id, TaskInstance.task_id == SHIPPING
        ).update({TaskInstance.state: TaskInstanceState.FAILED}, synchronize_session=False)
        session.query(DagRun).filter(DagRun.dag_id == "orderflow_core", DagRun.run_id == run_id).update(
            {DagRun.state: DagRunState.FAILED}, synchronize_session=False
        )


def claims(env: Env) -> list[dict[str, Any]]:
    with env.store.transaction() as cur:
        cur.execute("SELECT order_id, claimed_by, dag_id, run_id, task_id, try_number FROM order_claims")
        return [dict(r) for r in cur.fetchall()]


def test_a_try_stopped_from_outside_releases_its_orders_to_the_next_run(core_dag: Any, env: Env) -> None:
    ids = env.sb.generate_orders(4)
    script = KILLED_RUN.format(plugins=str(REPO / "plugins"), repo=str(REPO), dags=str(DAGS))
    proc = subprocess.run([sys.executable, "-c", script], env=os.environ.copy(), capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]

    bought = env.all_shipments()
    assert bought, "the killed try never reached Canada Post"
    assert {env.statuses()[i] for i in ids} == {"accepted"}
    held = claims(env)
    assert {c["order_id"] for c in held} == set(ids)
    (killed_run,) = {c["run_id"] for c in held}
    assert {(c["dag_id"], c["task_id"], c["try_number"]) for c in held} == {("orderflow_core", SHIPPING, 1)}
    assert ti_state(killed_run, SHIPPING) == "running"

    # Airflow still shows the try running: the next run leaves its orders alone.
    creates = len(env.sb.calls("canadapost", "create_shipment"))
    second = core_dag.test()
    assert ti_state(second.run_id, SHIPPING) == "success"
    assert {env.statuses()[i] for i in ids} == {"accepted"}
    assert len(env.sb.calls("canadapost", "create_shipment")) == creates

    # Stopped from outside: the next run takes the orders at once (the claims are 40 minutes from
    # expiring), adopts what the killed try bought and buys only what it did not.
    mark_failed_from_outside(killed_run)
    third = core_dag.test()
    assert ti_state(third.run_id, SHIPPING) == "success"
    assert {env.statuses()[i] for i in ids} == {"shipped"}
    assert {crid: len(s) for crid, s in env.all_shipments().items()} == {f"{i}-1": 1 for i in ids}
    for crid in bought:
        order_id = crid.rsplit("-", 1)[0]
        created = [h for h in env.store.history(order_id) if h["status"] == "label_created"]
        assert len(created) == 1 and created[0]["detail"]["adopted"] is True, created
        assert created[0]["run_id"] == third.run_id
    mirakl = env.sb.state("mirakl")["orders"]
    assert {mirakl[i]["ship_confirmations"] for i in ids} == {1}
    assert claims(env) == []
