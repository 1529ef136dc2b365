"""`make run` shows labelled parcels on the packing queue with the gate off (issue 12 item 2, as a
new user tries it): the sandbox started exactly as tools/run.py starts it (its command, on free
ports), the connections and settings tools/run.py gives Airflow, one pass of the order steps, and
the packing station's queue (the store call its page makes) lists every parcel whose label was
bought and not packed yet, Best Buy told it shipped or not."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import pytest
import requests

from orderflow import lifecycle
from orderflow.operators import AcceptOrdersOperator, BuyLabelsOperator, IngestOrdersOperator, PushTrackingOperator
from orderflow.settings import Settings
from orderflow.store import OrderStore
from tests.operators._helpers import FAST_SETTINGS, catalog_rows, context
from tools import run as make_run

# Stand-ins for .state/secrets.json (never written by a test).
KEYS = {"secret_key": "k", "jwt_secret": "j", "admin_password": "p", "fernet_key": "f"}


@pytest.fixture
def demo_sandbox() -> Iterator[dict]:
    command = make_run.sandbox_command(sys.executable, mirakl_port=0, canadapost_port=0, state_file=None)
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            cwd=make_run.REPO)
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        assert line.startswith("sandbox ready "), line
        yield json.loads(line[len("sandbox ready "):])
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_make_run_demo_lists_labelled_parcels_with_the_gate_off(demo_sandbox, fresh_db, pg_server, monkeypatch,
                                                                 tmp_path) -> None:
    env = make_run.airflow_env(pg_server, "orderflow", "airflow", KEYS)
    env.update(make_run.sandbox_connections(demo_sandbox["mirakl_url"], demo_sandbox["canadapost_url"]))
    for key in ("AIRFLOW_CONN_MIRAKL_DEFAULT", "AIRFLOW_CONN_CANADAPOST_DEFAULT"):
        monkeypatch.setenv(key, env[key])
    for key, value in FAST_SETTINGS.items():  # short acceptance polls; the gate as `make run` sets it
        monkeypatch.setenv(key, value)
    if "ORDERFLOW_PACK_VERIFY_GATE" in env:
        monkeypatch.setenv("ORDERFLOW_PACK_VERIFY_GATE", env["ORDERFLOW_PACK_VERIFY_GATE"])
    else:
        monkeypatch.delenv("ORDERFLOW_PACK_VERIFY_GATE", raising=False)
    monkeypatch.setenv("AIRFLOW_CONN_ORDERFLOW_DB", fresh_db)
    monkeypatch.setenv("ORDERFLOW_LABEL_DIR", str(tmp_path / "labels"))
    settings = Settings.load()
    flags = lifecycle.flags_of(settings)
    assert flags.pack_gate is False  # what `make run` runs with

    store = OrderStore(fresh_db)
    store.upsert_products(catalog_rows())
    try:
        run_id = "manual__demo"
        for cls, task in ((IngestOrdersOperator, "ingest.fetch_orders"),
                          (AcceptOrdersOperator, "acceptance.accept_orders")):
            cls(task_id=task).execute(context(run_id))
        requests.post(f"{demo_sandbox['mirakl_url']}/__admin/advance", json={"seconds": 60}, timeout=10)
        for cls, task in ((BuyLabelsOperator, "shipping.buy_labels"),
                          (PushTrackingOperator, "tracking.push_tracking")):
            try:
                cls(task_id=task).execute(context(run_id))
            except Exception as exc:  # a refused address is a person's; the others go on
                print(f"{task}: {exc}")

        with store.transaction() as cur:
            cur.execute("SELECT s.order_id, o.current_status FROM shipments s JOIN orders o USING (order_id) "
                        "WHERE s.status = 'label_stored'")
            labelled = {r["order_id"]: r["current_status"] for r in cur.fetchall()}
        queue = {r["order_id"]: r for r in store.pack_queue(flags)}
    finally:
        store.close()
    assert len(labelled) >= 10, labelled  # 20 demo orders, a few canceled or refused by Best Buy
    assert "shipped" in set(labelled.values())  # the gate off: Best Buy was told at once ...
    assert set(queue) == set(labelled)  # ... and every parcel still waits for the packer
