"""Issue 18: `pip install orderflow-<version>.whl` into a fresh Airflow gives the provider (connection
types with typed forms), the staff pages, the set-up commands, the SQL and the DAG, with no checkout.

Every command runs in the virtualenv of tests/packaging/conftest.py (built from this checkout's wheel).
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import psycopg2
import pytest

from tests.packaging.conftest import REPO_ROOT, InstalledOrderflow
from tools import pg

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def installed(installed_orderflow: InstalledOrderflow) -> InstalledOrderflow:
    return installed_orderflow

MIGRATIONS = sorted(p.name for p in (REPO_ROOT / "include" / "sql" / "migrations").glob("*.sql"))
QUERIES = sorted(p.name for p in (REPO_ROOT / "include" / "sql" / "queries").glob("*.sql"))


def test_the_wheel_carries_the_package_its_sql_pages_and_dag_but_not_the_sandbox(installed: InstalledOrderflow):
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    assert {f"orderflow/include/sql/migrations/{m}" for m in MIGRATIONS} <= names
    assert {f"orderflow/include/sql/queries/{q}" for q in QUERIES} <= names
    assert {"orderflow/views/templates/packing_queue.html", "orderflow/views/static/packing.js",
            "orderflow/views/static/orderflow.css", "orderflow/dags/orderflow_core.py"} <= names
    assert not [n for n in names if n.startswith(("sandbox/", "tests/", "tools/", "plugins/"))]
    (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    text = zipfile.ZipFile(installed.wheel).read(entry_points).decode()
    assert "[apache_airflow_provider]\nprovider_info = orderflow.provider_info:get_provider_info" in text
    assert "[airflow.plugins]\norderflow = orderflow.plugin:OrderflowPlugin" in text
    assert "[console_scripts]\norderflow = orderflow.cli:main" in text


def test_the_installed_package_is_the_one_imported(installed: InstalledOrderflow):
    out = installed.run(["python", "-c", "import orderflow, orderflow.sql as s, sys; "
                         "print(orderflow.__file__); print(s.SQL_DIR); print('sandbox' in sys.modules)"])
    module_file, sql_dir, sandbox_loaded = out.stdout.splitlines()
    assert module_file.startswith(str(installed.venv)) and sql_dir.startswith(str(installed.venv))
    assert str(REPO_ROOT) not in out.stdout and sandbox_loaded == "False"


def test_airflow_lists_orderflow_as_a_provider_with_both_connection_types(installed: InstalledOrderflow):
    providers = json.loads(installed.run(["airflow", "providers", "list", "-o", "json"]).stdout)
    (ours,) = [p for p in providers if p["package_name"] == "orderflow"]
    assert ours["version"] == "0.1.0"
    hooks = json.loads(installed.run(["airflow", "providers", "hooks", "-o", "json"]).stdout)
    by_type = {h["connection_type"]: h for h in hooks}
    assert by_type["mirakl"]["class"] == "orderflow.hooks.mirakl.MiraklHook"
    assert by_type["canadapost"]["class"] == "orderflow.hooks.canadapost.CanadaPostHook"
    assert by_type["canadapost"]["package_name"] == "orderflow"
    # The typed forms as Airflow's UI receives them (the UI's own service, not our dicts).
    script = (
        "import json\n"
        "from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService\n"
        "meta = {m.connection_type: m for m in HookMetaService.hook_meta_data()}\n"
        "out = {}\n"
        "for t in ('mirakl', 'canadapost'):\n"
        "    m = meta[t]\n"
        "    out[t] = {'name': m.hook_name, 'fields': sorted(m.extra_fields or {}),\n"
        "              'login': m.standard_fields.login.model_dump() if m.standard_fields.login else None,\n"
        "              'password': m.standard_fields.password.model_dump()}\n"
        "print(json.dumps(out))\n"
    )
    forms = json.loads(installed.run(["python", "-c", script]).stdout.splitlines()[-1])
    assert forms["mirakl"]["name"] == "Best Buy Marketplace (Mirakl)"
    assert forms["canadapost"]["name"] == "Canada Post"
    assert {"shop_id", "rate_limits", "timeout"} <= set(forms["mirakl"]["fields"])
    assert forms["mirakl"]["login"]["hidden"] is True
    assert forms["mirakl"]["password"]["title"] == "Shop API key"
    assert {"api", "customer_number", "mobo", "contract_id", "origin_postal_code", "service_code", "sender_name",
            "sender_company", "sender_phone", "sender_address_line_1", "sender_city", "sender_province",
            "sender_postal_code", "output_format", "encoding", "group_id", "rate_limits"} <= set(
        forms["canadapost"]["fields"])
    assert forms["canadapost"]["login"]["title"] == "API user / client id"


def test_airflow_loads_the_staff_pages_from_the_plugin_entry_point(installed: InstalledOrderflow):
    plugins = json.loads(installed.run(["airflow", "plugins", "-o", "json"]).stdout)
    (ours,) = [p for p in plugins if p["name"] == "orderflow"]
    assert "EntryPoint(name='orderflow', value='orderflow.plugin:OrderflowPlugin'" in ours["source"]
    assert [v["name"] for v in ours["external_views"]] == ["Packing station", "Close the day", "Customer service",
                                                           "Returns"]
    assert ours["fastapi_apps"][0]["url_prefix"] == "/orderflow"


def test_the_migrate_command_runs_the_packaged_migrations(installed: InstalledOrderflow, pg_server: pg.Server):
    name = f"of_wheel{os.getpid()}"
    pg.create_database(pg_server, name, drop_first=True)
    try:
        out = installed.run(["orderflow", "migrate", "--url", pg_server.url(name)])
        assert out.stdout.strip() == "orderflow db upgrade: " + ", ".join(MIGRATIONS)
        with psycopg2.connect(pg_server.url(name)) as conn, conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM schema_migrations")
            assert cur.fetchone()[0] == len(MIGRATIONS)
            cur.execute("SELECT count(*) FROM status_transitions")
            assert cur.fetchone()[0] > 0
        conn.close()
        again = installed.run(["orderflow", "migrate", "--url", pg_server.url(name)])
        assert again.stdout.strip() == "orderflow db upgrade: nothing to apply"

        # A seller's own catalog, no sandbox: products and component barcodes from a JSON file.
        catalog = installed.root / "catalog.json"
        catalog.write_text(json.dumps([{
            "sku": "SELLER-TV-1", "name": "Seller TV", "weight_kg": 12.5, "length_cm": 120, "width_cm": 20,
            "height_cm": 75, "components": [{"barcode": "0600000000017", "name": "TV panel", "quantity": 1},
                                            {"barcode": "0600000000024", "name": "TV stand", "quantity": 2}],
        }]))
        loaded = installed.run(["orderflow", "seed-catalog", "--file", str(catalog)],
                               env={"AIRFLOW_CONN_ORDERFLOW_DB": pg_server.url(name)})
        assert loaded.stdout.strip() == "catalog: 1 products loaded"
        with psycopg2.connect(pg_server.url(name)) as conn, conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM product_components WHERE sku = 'SELLER-TV-1'")
            assert cur.fetchone()[0] == 2
        conn.close()
    finally:
        pg.drop_database(pg_server, name)


def test_the_demo_catalog_needs_the_checkout_and_says_so(installed: InstalledOrderflow):
    out = installed.run(["orderflow", "seed-catalog"], check=False)
    assert out.returncode != 0
    assert "sandbox/ package, which an installed orderflow does not include; pass --file" in out.stderr


def test_the_packaged_dag_file_parses(installed: InstalledOrderflow):
    out = installed.run(["orderflow", "install-dag", str(installed.dags_folder)])
    assert out.stdout.strip().splitlines() == [
        f"orderflow DAG copied to {installed.dags_folder / name}" for name in ("orderflow_core.py",
                                                                             "orderflow_end_of_day.py")]
    script = (
        "from airflow.dag_processing.dagbag import DagBag\n"
        f"bag = DagBag(dag_folder={str(installed.dags_folder)!r})\n"
        "print(sorted(bag.dag_ids), bag.import_errors)\n"
        "dag = bag.dags['orderflow_core']\n"
        "print(sorted(t.task_id for t in dag.tasks)[:3])\n"
    )
    lines = installed.run(["python", "-c", script]).stdout.splitlines()
    assert lines[-2] == "['orderflow_core', 'orderflow_end_of_day'] {}"
    assert lines[-1].startswith("['acceptance.")


def test_the_wheel_carries_every_dag_file_of_the_checkout():
    """A DAG added to dags/ must reach the wheel (pyproject force-include) and `orderflow install-dag`."""
    import tomllib

    from orderflow import cli

    repo = Path(__file__).resolve().parents[2]
    in_checkout = sorted(p.name for p in (repo / "dags").glob("*.py"))
    assert sorted(cli.DAG_FILES) == in_checkout
    build = tomllib.loads((repo / "pyproject.toml").read_text())["tool"]["hatch"]["build"]["targets"]
    forced = build["wheel"]["force-include"]
    assert {f"dags/{n}" for n in in_checkout} <= set(forced)
    assert {f"dags/{n}" for n in in_checkout} <= set(build["sdist"]["only-include"])
