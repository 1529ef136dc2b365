"""orderflow_end_of_day with real Airflow (``dag.test()``): a day of labels bought through the order steps,
the cut-off passes, the DAG's run transmits the day's group once and stores its manifest; a second run
transmits nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from airflow.dag_processing.dagbag import DagBag

from sandbox.testing import running_sandbox
from tests.dags.test_core_dag_runs import task_states
from tests.operators._helpers import Env, connect, make_env
from tests.operators.test_end_of_day import Day, labelled, row, sandbox_manifests

DAGS = Path(__file__).resolve().parents[2] / "dags"


@pytest.fixture(scope="module")
def eod_dag() -> Any:
    bag = DagBag(dag_folder=str(DAGS))
    assert not bag.import_errors
    return bag.dags["orderflow_end_of_day"]


@pytest.fixture
def env(airflow_db, fresh_db, monkeypatch, tmp_path) -> Iterator[Env]:
    with running_sandbox(seed=45, debit_delay=0.0) as sb:
        e = make_env(fresh_db, monkeypatch, tmp_path, sb, api="portal")
        connect(sb, monkeypatch, "portal", refund_email="refunds@example.ca")
        yield e
        e.store.close()


def test_the_dag_closes_the_day_once(eod_dag: Any, env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    day = Day(monkeypatch)
    orders = labelled(env, 2, "manual__day")
    group = f"{day.today}-1"
    day.after_cutoff()

    first = eod_dag.test()
    assert task_states(first) == {"close_day": "success"}
    (manifest,) = sandbox_manifests(env)
    assert manifest.group_ids == [group]
    assert sorted(manifest.shipment_ids) == sorted(row(env, o)["shipment_id"] for o in orders)
    assert {row(env, o)["manifest_row_id"] for o in orders} != {None}

    second = eod_dag.test()
    assert task_states(second) == {"close_day": "success"}
    assert len(env.sb.calls("canadapost", "transmit_shipments")) == 1 and len(sandbox_manifests(env)) == 1
