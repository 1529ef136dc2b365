"""What the sandbox benchmarks share: throwaway databases, connections to the sandbox, the child run.

Every benchmark database is created on the server ``tools.pg`` finds (``of_bench_*``) and dropped
afterwards; the sandbox listens on ephemeral ports.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent

SENDER_EXTRAS: dict[str, str] = {
    "sender_name": "Shipping Desk",
    "sender_company": "Orderflow Demo Electronics",
    "sender_phone": "613 555 0100",
    "sender_address_line_1": "100 Bank St",
    "sender_city": "Ottawa",
    "sender_province": "ON",
    "sender_postal_code": "K1P 5N2",
}
MIRAKL_NO_LIMITS = {"OR11_poll": 0, "OR11_lookup": 0}
CANADAPOST_NO_LIMITS = {"A": 0, "B": 0, "C": 0, "E": 0}


def catalog_rows() -> list[dict[str, Any]]:
    from sandbox.catalog import PRODUCTS

    return [
        {"sku": p["sku"], "name": p["name"], "weight_kg": p["weight_kg"],
         "dimensions_cm": {"length": p["length_cm"], "width": p["width_cm"], "height": p["height_cm"]},
         "components": p["components"]}
        for p in PRODUCTS
    ]


@contextmanager
def order_database(tag: str) -> Iterator[str]:
    """A migrated orderflow database holding the demo catalog; dropped on exit."""
    from orderflow import db
    from orderflow.store import OrderStore
    from tools import pg

    server, _ = pg.ensure_server()
    name = f"of_bench_{tag}_{os.getpid()}"
    pg.create_database(server, name, drop_first=True)
    url = server.url(name)
    try:
        db.upgrade(url)
        store = OrderStore(url)
        store.upsert_products(catalog_rows())
        store.close()
        yield url
    finally:
        pg.drop_database(server, name)


_METADATA: dict[str, Any] = {}


def metadata_database() -> tuple[str, bool]:
    """(URL, needs migrating) of this bench process's Airflow metadata database.

    One database serves every DAG run of the suite (each run has its own run id), so Airflow's
    migration (several seconds) is paid once; it is dropped when the process exits.
    """
    import atexit

    from tools import pg

    if "url" in _METADATA:
        return _METADATA["url"], False
    server, _ = pg.ensure_server()
    name = f"of_bench_af_{os.getpid()}"
    pg.create_database(server, name, drop_first=True)
    atexit.register(pg.drop_database, server, name)
    _METADATA["url"] = server.url(name, "postgresql+psycopg2")
    return _METADATA["url"], True


def connections(sb: Any, *, mirakl_limits: dict[str, float] | None, canadapost_limits: dict[str, float] | None,
                ) -> dict[str, str]:
    """AIRFLOW_CONN_* values pointing at the sandbox (Canada Post over the XML gateway)."""
    conns = sb.airflow_conn_uris()
    mirakl = json.loads(conns["mirakl_default"])
    if mirakl_limits is not None:
        mirakl["extra"]["rate_limits"] = mirakl_limits
    cp = json.loads(conns["canadapost_default"])
    cp["extra"].update(SENDER_EXTRAS, api="xml")
    if canadapost_limits is not None:
        cp["extra"]["rate_limits"] = canadapost_limits
    return {"AIRFLOW_CONN_MIRAKL_DEFAULT": json.dumps(mirakl), "AIRFLOW_CONN_CANADAPOST_DEFAULT": json.dumps(cp)}


def airflow_env(home: str, *, order_db: str, metadata_db: str, conns: dict[str, str],
                settings: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "ORDERFLOW_"))}
    env.update({
        "AIRFLOW_HOME": home,
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_db,
        "AIRFLOW__API__SECRET_KEY": "orderflow-bench-secret-key",
        "AIRFLOW__API_AUTH__JWT_SECRET": "orderflow-bench-jwt-secret",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        "AIRFLOW_CONN_ORDERFLOW_DB": order_db,
        "ORDERFLOW_LABEL_DIR": str(Path(home) / "labels"),
        # A failed try waits 1 s, not a minute, before its retry (counted as a task instance try).
        "ORDERFLOW_TASK_RETRY_DELAY_SECONDS": "1",
        "ORDERFLOW_SETTINGS_NO_VARIABLES": "1",
        "PYTHONPATH": os.pathsep.join([str(REPO / "plugins"), str(REPO)]),
        **conns,
        **(settings or {}),
    })
    return env


def run_dag_test(env: dict[str, str], *, migrate: bool, timeout: float, log: Callable[[str], None],
                 before_measured_run: Callable[[], None] | None = None,
                 watch: Callable[[subprocess.Popen], None] | None = None) -> dict[str, Any]:
    """One measured ``dag.test()`` of orderflow_core in a fresh process (bench/_dagrun.py); its JSON result.

    With ``before_measured_run``, the child first runs the DAG once (warm-up: dag.test()'s one-time
    start-up), then this callback runs (e.g. the sandbox gets its orders), then the measured run.
    ``watch(proc)`` is called repeatedly while the child runs (e.g. to stop it after a time budget).
    """
    import time

    with tempfile.NamedTemporaryFile(prefix="orderflow-bench-run-", suffix=".json", delete=False) as fh:
        out = Path(fh.name)
    ready, go = Path(str(out) + ".ready"), Path(str(out) + ".go")
    cmd = [sys.executable, "-m", "bench._dagrun", str(out)] + (["--migrate"] if migrate else [])
    if before_measured_run is not None:
        cmd.append("--warmup")
    log_path = Path(env["AIRFLOW_HOME"]) / "dagrun.log"
    try:
        with log_path.open("ab") as log_file:
            proc = subprocess.Popen(cmd, env=env, cwd=str(REPO), stdout=log_file, stderr=subprocess.STDOUT)
            deadline = time.monotonic() + timeout
            said_go = before_measured_run is None
            while proc.poll() is None:
                if time.monotonic() > deadline:
                    proc.kill()
                    proc.wait()
                    raise RuntimeError(f"dag.test() did not finish within {timeout:.0f} s")
                if not said_go and ready.exists():
                    log("warm-up run done; the measured run starts")
                    before_measured_run()  # type: ignore[misc]
                    go.write_text("go")
                    said_go = True
                if watch is not None:
                    watch(proc)
                time.sleep(0.05)
            rc = proc.returncode
        if rc != 0 or not out.stat().st_size:
            tail = log_path.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"dag.test() child failed (exit {rc}):\n{tail}")
        return json.loads(out.read_text())
    finally:
        for path in (out, ready, go):
            path.unlink(missing_ok=True)


def step_of(task_id: str) -> str:
    """'acceptance.accept_orders' -> 'acceptance'."""
    return task_id.split(".", 1)[0] if "." in task_id else task_id


ORDER_STEPS = ("ingest", "acceptance", "shipping", "tracking")


def final_statuses(order_db: str) -> dict[str, int]:
    import psycopg2

    conn = psycopg2.connect(order_db)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT coalesce(current_status, '(none)'), count(*) FROM orders GROUP BY 1 ORDER BY 1")
            return dict(cur.fetchall())
    finally:
        conn.close()


def call_rows(sb: Any, service: str) -> list[dict[str, Any]]:
    return [
        {"service": service, "endpoint": c.endpoint or "?", "method": c.method, "status": c.status, "ts": c.ts,
         "outcome": c.outcome, "query": c.query, "duration_ms": c.duration_ms}
        for c in sb.calls(service)
    ]
