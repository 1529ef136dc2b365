"""--state persistence across restarts, and the ``python -m sandbox serve`` entry point."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from sandbox.testing import canadapost_service_class, running_sandbox
from tests.sandbox.conftest import MiraklClient

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_state_survives_a_restart(tmp_path):
    state = tmp_path / "state.json"
    with running_sandbox(orders=3, state_file=str(state), with_canadapost=False) as sb:
        client = MiraklClient(sb)
        orders = client.orders()
        client.accept(orders[0])
        sb.advance(1)
        ((thread_id, _),) = sb.generate_messages(1, order_id=orders[1]["order_id"])
        before = client.orders(max=100)
    assert json.loads(state.read_text())["mirakl"]["orders"]

    with running_sandbox(orders=3, state_file=str(state), with_canadapost=False) as sb:
        client = MiraklClient(sb)
        after = client.orders(max=100)
        assert after == before  # same orders (not 3 new ones), same states, same addresses
        assert client.get(f"/api/inbox/threads/{thread_id}").status_code == 200
        # The id sequences continue rather than restart: no duplicate order ids.
        new_id = sb.generate_orders(1)[0]
        assert new_id not in {o["order_id"] for o in before}


def test_state_is_written_while_running(tmp_path):
    state = tmp_path / "live.json"
    with running_sandbox(orders=1, state_file=str(state), with_canadapost=False) as sb:
        client = MiraklClient(sb)
        client.accept(client.orders()[0])
        deadline = time.monotonic() + 5
        while True:
            if state.exists():
                saved = json.loads(state.read_text())["mirakl"]["orders"]
                if next(iter(saved.values()))["order"]["order_state"] != "WAITING_ACCEPTANCE":
                    break
            assert time.monotonic() < deadline, "state file not updated after a mutating call"
            time.sleep(0.1)


def _start_cli(*args: str) -> tuple[subprocess.Popen, dict]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "serve", "--mirakl-port", "0", "--canadapost-port", "0", *args],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()  # blocks until the ready line (or EOF if it died)
    if not line.startswith("sandbox ready "):
        proc.kill()
        raise AssertionError(f"sandbox did not start: {line!r} {proc.stderr.read() if proc.stderr else ''}")
    return proc, json.loads(line[len("sandbox ready "):])


def _stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise


def test_cli_starts_both_servers_and_serves(tmp_path):
    started = time.monotonic()
    proc, ready = _start_cli("--orders", "4", "--mirakl-api-key", "k-123", "--seed", "9",
                             "--state", str(tmp_path / "s.json"), "--mirakl-fault", "SH21:error_rate=1,count=1")
    try:
        headers = {"Authorization": "k-123"}
        resp = requests.get(ready["mirakl_url"] + "/api/orders", headers=headers, timeout=5)
        elapsed = time.monotonic() - started
        assert resp.status_code == 200 and resp.json()["total_count"] == 4
        # Generous bound: about function (it starts and serves promptly), not a speed target.
        assert elapsed < 15
        assert requests.get(ready["mirakl_url"] + "/api/shipping/carriers", headers=headers,
                            timeout=5).status_code in (500, 502, 503)
        if canadapost_service_class() is not None:
            assert ready["canadapost_url"].startswith("http://127.0.0.1:")
            probe = requests.get(ready["canadapost_url"] + "/__admin/counts", timeout=5)
            assert probe.status_code == 200
    finally:
        _stop(proc)
    assert proc.returncode == 0
    assert json.loads((tmp_path / "s.json").read_text())["mirakl"]["orders"]


def test_cli_help_documents_every_option():
    out = subprocess.run([sys.executable, "-m", "sandbox", "serve", "--help"], cwd=REPO_ROOT,
                         capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(REPO_ROOT)}).stdout
    for option in ("--mirakl-port", "--canadapost-port", "--mirakl-api-key", "--canadapost-user",
                   "--canadapost-password", "--canadapost-customer-number", "--seed", "--orders", "--state",
                   "--debit-delay", "--payment-refused-rate", "--cancel-rate", "--mirakl-fault",
                   "--canadapost-fault", "--rate-limits", "drop_rate", "hang_rate", "/__admin/faults"):
        assert option in out, option
    assert "sandbox-mirakl-key" in out  # credentials' defaults are documented


def test_running_sandbox_gives_airflow_connections_for_both():
    with running_sandbox(orders=1) as sb:
        conns = {name: json.loads(value) for name, value in sb.airflow_conn_uris().items()}
        mirakl = conns["mirakl_default"]
        assert mirakl["host"] == sb.mirakl_url and mirakl["password"] == sb.mirakl_api_key
        assert mirakl["extra"]["shop_id"] == sb.shop_id
        resp = requests.get(mirakl["host"] + "/api/orders", headers={"Authorization": mirakl["password"]},
                            params={"shop_id": mirakl["extra"]["shop_id"]}, timeout=5)
        assert resp.status_code == 200 and resp.json()["total_count"] == 1
        if canadapost_service_class() is None:
            assert "canadapost_default" not in conns
            return
        cp = conns["canadapost_default"]
        assert cp["host"] == sb.canadapost_url
        assert (cp["login"], cp["password"]) == (sb.canadapost_user, sb.canadapost_password)
        assert cp["extra"]["customer_number"] == sb.canadapost_customer_number
        assert {"mobo", "contract_id", "origin_postal_code", "service_code", "output_format"} <= set(cp["extra"])
        assert requests.get(sb.canadapost_url + "/__admin/counts", timeout=5).status_code == 200
        sb.advance(5)  # moves both clocks without error
        assert sb.mirakl.clock_offset == 5


def test_seed_catalog_loads_the_demo_catalog_through_orderflows_own_command(fresh_db, tmp_path):
    """`python -m sandbox seed-catalog` (what `make run` calls): the sandbox writes the catalog file and
    orderflow's `seed-catalog --file` loads it; production code never imports the sandbox for it."""
    import psycopg2

    from sandbox.catalog import BARCODES, PRODUCTS

    catalog = tmp_path / "catalog.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "plugins"), str(REPO_ROOT)]),
           "AIRFLOW_CONN_ORDERFLOW_DB": fresh_db}
    for _ in range(2):  # idempotent, as `make run` calls it on every start
        out = subprocess.run([sys.executable, "-m", "sandbox", "seed-catalog", "--file", str(catalog)],
                             cwd=REPO_ROOT, capture_output=True, text=True, env=env, timeout=120)
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip().splitlines()[-1] == f"catalog: {len(PRODUCTS)} products loaded"
    assert json.loads(catalog.read_text()) == PRODUCTS
    with psycopg2.connect(fresh_db) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM products")
        assert cur.fetchone()[0] == len(PRODUCTS)
        cur.execute("SELECT count(DISTINCT barcode) FROM product_components")
        assert cur.fetchone()[0] == len(BARCODES)
    conn.close()


def test_serve_writes_the_catalog_file_compose_loads(tmp_path):
    catalog = tmp_path / "state" / "catalog.json"
    proc, _ready = _start_cli("--orders", "0", "--no-canadapost", "--catalog-file", str(catalog))
    try:
        assert catalog.is_file()  # before the ready line: compose's healthcheck implies the file
        from sandbox.catalog import PRODUCTS

        assert json.loads(catalog.read_text()) == PRODUCTS
    finally:
        _stop(proc)


def test_orderflow_seed_catalog_without_a_file_points_at_the_sandbox(tmp_path):
    out = subprocess.run([sys.executable, "-m", "orderflow.setup", "seed-catalog"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(REPO_ROOT / "plugins")})
    assert out.returncode != 0
    assert "pass --file" in out.stderr and "python -m sandbox seed-catalog" in out.stderr
