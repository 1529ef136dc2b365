"""The DAG folder parses cleanly, quickly and without touching the network."""

from __future__ import annotations

import itertools
import os
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from airflow.dag_processing.dagbag import DagBag

DAGS = Path(__file__).resolve().parents[2] / "dags"


class NetworkBlocked(AssertionError):
    pass


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    attempts: list[object] = []

    def refuse(self: socket.socket, address: object) -> None:
        attempts.append(address)
        raise NetworkBlocked(f"DAG parsing tried to connect to {address!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    return attempts


@pytest.fixture
def dagbag(no_network: list[object]) -> tuple[DagBag, float, list[object]]:
    started = time.perf_counter()
    bag = DagBag(dag_folder=str(DAGS))
    return bag, time.perf_counter() - started, no_network


def test_no_import_errors_and_no_network(dagbag) -> None:
    bag, _, attempts = dagbag
    assert bag.import_errors == {}
    assert "orderflow_core" in bag.dag_ids
    assert attempts == []


def test_parses_fast_in_a_cold_process() -> None:
    """Time a DagBag fill in a fresh interpreter (Airflow itself imported first, as in the DAG
    processor), with sockets refused: nothing of ours is cached, nothing reaches the network."""
    script = f"""
import socket, sys, time
from airflow.dag_processing.dagbag import DagBag
def refuse(self, address):
    raise OSError(f"network blocked: {{address!r}}")
socket.socket.connect = refuse
socket.socket.connect_ex = refuse
started = time.perf_counter()
bag = DagBag(dag_folder={str(DAGS)!r})
elapsed = time.perf_counter() - started
assert not bag.import_errors, bag.import_errors
assert "orderflow_core" in bag.dags
print(f"{{elapsed:.4f}}")
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                         env=os.environ.copy())
    assert out.returncode == 0, out.stderr[-2000:]
    seconds = float(out.stdout.strip().splitlines()[-1])
    assert seconds < 0.5, f"DAG folder took {seconds:.3f}s to parse"


def test_core_dag_shape(dagbag) -> None:
    dag = dagbag[0].dags["orderflow_core"]
    assert dag.tags and {"orderflow", "bestbuy"} <= set(dag.tags)
    assert dag.doc_md and "clear" in dag.doc_md
    assert dag.catchup is False
    assert dag.max_active_runs == 1
    assert dag.schedule == "*/15 * * * *"
    groups = list(dag.task_group.children)
    assert groups[:5] == ["ingest", "acceptance", "shipping", "tracking", "messaging"]
    for task in dag.tasks:
        assert task.retries >= 2, task.task_id
        assert task.execution_timeout is not None and task.execution_timeout <= timedelta(hours=2), task.task_id
        assert task.retry_exponential_backoff, task.task_id
    chain = ["ingest.fetch_orders", "acceptance.accept_orders", "shipping.buy_labels", "tracking.push_tracking"]
    for upstream, downstream in itertools.pairwise(chain):
        assert upstream in dag.get_task(downstream).upstream_task_ids
    assert dag.get_task("messaging.sync_messages").downstream_task_ids == {"messaging.auto_reply"}
    # messaging stays independent of the order steps
    assert not dag.get_task("messaging.sync_messages").upstream_task_ids
    # the verdict task sees every step, so a failed step makes the run red
    verdict = dag.get_task("run_verdict")
    assert set(chain) | {"messaging.auto_reply"} <= verdict.upstream_task_ids


def test_schedule_comes_from_settings(no_network, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDERFLOW_SCHEDULE", "*/5 * * * *")
    bag = DagBag(dag_folder=str(DAGS))
    assert bag.dags["orderflow_core"].schedule == "*/5 * * * *"
