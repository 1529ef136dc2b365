"""orderflow_core on a real CeleryExecutor cluster on this machine (issue 15).

A private Redis, Airflow's scheduler, dag-processor and api-server, and two ``airflow celery worker``
processes (tools/cluster.py, the topology ``ORDERFLOW_EXECUTOR=celery make run`` starts), against
the sandbox over HTTP and a real PostgreSQL. A scheduled run takes 200 sandbox orders to
``shipped`` with the step shards executed on both workers; one worker is SIGKILLed (its whole
process group, as a dying host) while it runs shipping shards: the scheduler notices the lost
heartbeats, the retry runs on the other worker, and Canada Post holds exactly one label per order.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg2
import psycopg2.extras
import pytest

from sandbox.testing import running_sandbox
from tests.operators._helpers import FAST_SETTINGS, catalog_rows, connect
from tools import cluster as local_cluster
from tools import pg

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
AIRFLOW = str(VENV_BIN / "airflow")
ORDERS = 200
SHARDS = 4
WORKERS = ("worker1", "worker2")
SHARDED_TASKS = ("acceptance.accept_orders", "shipping.buy_labels", "tracking.push_tracking")


def _airflow_env(tmp: Path, airflow_db: str, order_db: str, api_port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "AIRFLOW__CORE__UNIT_TEST_MODE"}
    env.update(FAST_SETTINGS)
    env.update({
        "AIRFLOW_HOME": str(tmp / "airflow"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": airflow_db,
        "AIRFLOW__CORE__FERNET_KEY": "",
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{api_port}",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        "AIRFLOW__CORE__PARALLELISM": "16",
        # Notice a dead worker's tasks within seconds, and retry them soon (production: minutes).
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "20",
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "2",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW_CONN_ORDERFLOW_DB": order_db,
        "ORDERFLOW_DATABASE_URL": order_db,
        "ORDERFLOW_LABEL_DIR": str(tmp / "labels"),
        "ORDERFLOW_SHARDS": str(SHARDS),
        "ORDERFLOW_TASK_RETRY_DELAY_SECONDS": "1",
        "ORDERFLOW_BATCH_SIZE": "10",
        "PYTHONPATH": os.pathsep.join([str(REPO / "plugins"), str(REPO)]),
    })
    return env


@pytest.fixture
def celery_cluster(pg_server: pg.Server, fresh_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                   ) -> Iterator[tuple[local_cluster.Cluster, Any, str]]:
    # Slow label answers keep shipping shards running long enough to kill a worker holding them.
    with running_sandbox(seed=15, debit_delay=0.0,
                         canadapost_faults={"create_shipment": {"latency_ms": 150}}) as sb:
        connect(sb, monkeypatch, "xml")
        meta = f"of_celery_{os.urandom(3).hex()}"
        pg.create_database(pg_server, meta, drop_first=True)
        api_port = local_cluster.free_port()
        env = _airflow_env(tmp_path, pg_server.url(meta, "postgresql+psycopg2"), fresh_db, api_port)
        cluster = local_cluster.Cluster(env=env, logs=tmp_path / "logs", airflow=AIRFLOW)
        try:
            import subprocess

            migrated = subprocess.run([AIRFLOW, "db", "migrate"], env=env, cwd=REPO, capture_output=True,
                                      text=True, timeout=300)
            assert migrated.returncode == 0, migrated.stdout[-3000:] + migrated.stderr[-3000:]
            cluster.use_celery(pg_server.url(meta, "postgresql+psycopg2"))
            cluster.start_components(api_port)
            for name in WORKERS:
                cluster.start_worker(name)  # compose's default concurrency (tests/test_compose.py)
            cluster.wait_for_http(f"http://127.0.0.1:{api_port}/api/v2/monitor/health", 180, "the api-server")
            yield cluster, sb, pg_server.url(meta)
        finally:
            cluster.stop()
            _print_tail(cluster)
            pg.drop_database(pg_server, meta)


def _print_tail(cluster: local_cluster.Cluster) -> None:
    for process in cluster.processes:
        if process.log.exists():
            tail = process.log.read_text(errors="replace")[-1500:]
            print(f"--- {process.name} (pid {process.pid}) ---\n{tail}")


def _rows(url: str, sql: str, params: tuple = ()) -> list[dict[str, Any]]:
    with psycopg2.connect(url) as conn, conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
        cur.execute(sql, params)
        return [dict(r) for r in cur.fetchall()]


def _airflow_cli(cluster: local_cluster.Cluster, *args: str) -> Any:
    import subprocess

    return subprocess.run([AIRFLOW, *args], env=cluster.env, cwd=REPO, capture_output=True, text=True, timeout=120)


def _wait(what: str, seconds: float, check: Any, cluster: local_cluster.Cluster) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        dead = [p.name for p in cluster.processes if not p.alive() and p.name not in cluster.killed]
        assert not dead, f"{dead} exited while waiting for {what}"
        time.sleep(1)
    raise AssertionError(f"timed out after {seconds:.0f}s waiting for {what}")


# A whole cluster start plus a 200-order run: about 5 minutes on a quiet 2-core machine.
@pytest.mark.timeout(1800)
def test_scheduled_run_ships_200_orders_on_two_celery_workers_and_survives_one_dying(celery_cluster) -> None:
    cluster, sb, meta_url = celery_cluster
    from orderflow.store import OrderStore

    store = OrderStore(cluster.env["ORDERFLOW_DATABASE_URL"])
    store.upsert_products(catalog_rows())
    ids = sb.generate_orders(ORDERS)

    # Deployments start paused; unpausing lets the scheduler create the latest interval's run.
    _wait("the dag-processor to store orderflow_core", 180,
          lambda: _airflow_cli(cluster, "dags", "unpause", "orderflow_core").returncode == 0, cluster)
    run = _wait("a scheduled run", 120, lambda: _rows(
        meta_url, "SELECT run_id, run_type FROM dag_run WHERE dag_id = 'orderflow_core'"), cluster)[0]
    assert run["run_type"] == "scheduled"

    # Kill a worker while it runs shipping shards.
    def running_shipping() -> list[dict[str, Any]]:
        return _rows(meta_url, "SELECT map_index, hostname, pid FROM task_instance WHERE dag_id = 'orderflow_core' "
                               "AND task_id = 'shipping.buy_labels' AND state = 'running'")

    running = _wait("shipping shards running", 600, running_shipping, cluster)
    victim = next(w for w in WORKERS if any(r["hostname"].startswith(f"{w}.") for r in running))
    held = sorted(r["map_index"] for r in running if r["hostname"].startswith(f"{victim}."))
    cluster.kill(victim)

    def run_state() -> str | None:
        state = _rows(meta_url, "SELECT state FROM dag_run WHERE run_id = %s", (run["run_id"],))[0]["state"]
        return state if state in ("success", "failed") else None

    final = _wait("the run to finish", 900, run_state, cluster)
    statuses = {r["order_id"]: r["current_status"] for r in _rows(
        cluster.env["ORDERFLOW_DATABASE_URL"], "SELECT order_id, current_status FROM orders")}
    assert sorted(statuses) == sorted(ids)
    assert set(statuses.values()) == {"shipped"}, {s: list(statuses.values()).count(s) for s in set(statuses.values())}
    assert final == "success"

    tis = _rows(meta_url, "SELECT task_id, map_index, try_number, hostname, state FROM task_instance "
                          "WHERE run_id = %s", (run["run_id"],))
    for task_id in SHARDED_TASKS:
        shards = [t for t in tis if t["task_id"] == task_id]
        assert sorted(t["map_index"] for t in shards) == list(range(SHARDS)), task_id
        assert {t["state"] for t in shards} == {"success"}, task_id
    workers_used = {t["hostname"].split(".", 1)[0] for t in tis if t["task_id"] in SHARDED_TASKS and t["hostname"]}
    assert workers_used == set(WORKERS)
    # The shards the dead worker held were retried, and finished on the other worker.
    survivor = next(w for w in WORKERS if w != victim)
    for t in tis:
        if t["task_id"] == "shipping.buy_labels" and t["map_index"] in held:
            assert t["try_number"] >= 2 and t["hostname"].startswith(f"{survivor}."), t

    # Canada Post holds exactly one label per order (all ever created, not only live); Best Buy was
    # told once per order.
    created = {crid: len(s) for crid, s in sb.state("canadapost")["shipments_by_customer_request_id"].items()}
    assert created == {f"{i}-1": 1 for i in ids}
    mirakl = sb.state("mirakl")["orders"]
    assert {mirakl[i]["ship_confirmations"] for i in ids} == {1}
