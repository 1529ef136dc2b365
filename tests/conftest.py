"""Test session set-up shared by every test.

Airflow reads its configuration when first imported, so everything it needs (a throwaway
AIRFLOW_HOME, the dags/plugins folders, a throwaway metadata DB on a real PostgreSQL and the
`orderflow_db` connection) is set here, at import time, before any test module imports it.

Each pytest session gets two throwaway databases on the server tools.pg finds or starts:
``of_t<pid>`` (the orderflow order DB, migrated) and ``of_t<pid>_af`` (Airflow's metadata DB,
created only when a test asks for the ``airflow_db`` fixture). Both are dropped at the end.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
for path in (REPO_ROOT / "plugins", REPO_ROOT):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from tools import pg  # noqa: E402  (needs sys.path above)

_SERVER, _ = pg.ensure_server()
_TAG = f"of_t{os.getpid()}"
ORDER_DB = _TAG
AIRFLOW_DB = f"{_TAG}_af"
pg.create_database(_SERVER, ORDER_DB, drop_first=True)
pg.create_database(_SERVER, AIRFLOW_DB, drop_first=True)
ORDER_DB_URL = _SERVER.url(ORDER_DB)

_AIRFLOW_HOME = tempfile.mkdtemp(prefix="orderflow-airflow-home-")
os.environ.update(
    {
        "AIRFLOW_HOME": _AIRFLOW_HOME,
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
        "AIRFLOW__CORE__AUTH_MANAGER": "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": _SERVER.url(AIRFLOW_DB, "postgresql+psycopg2"),
        "AIRFLOW__API__SECRET_KEY": "orderflow-test-secret-key",
        "AIRFLOW__API_AUTH__JWT_SECRET": "orderflow-test-jwt-secret",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        "AIRFLOW_CONN_ORDERFLOW_DB": ORDER_DB_URL,
        "ORDERFLOW_LABEL_DIR": str(Path(_AIRFLOW_HOME) / "labels"),
        "ORDERFLOW_TEST_MODE": "1",
    }
)

import psycopg2  # noqa: E402
import pytest  # noqa: E402


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_AIRFLOW_HOME, ignore_errors=True)
    for name in (ORDER_DB, AIRFLOW_DB):
        try:
            pg.drop_database(_SERVER, name)
        except Exception as exc:  # a leftover throwaway DB must not turn a green run red
            print(f"could not drop {name}: {exc}", file=sys.stderr)


@pytest.fixture(scope="session")
def pg_server() -> pg.Server:
    return _SERVER


@pytest.fixture(scope="session")
def order_db_url() -> str:
    """URL of this session's migrated orderflow database."""
    from orderflow import db

    db.upgrade(ORDER_DB_URL)
    return ORDER_DB_URL


@pytest.fixture
def fresh_db(pg_server) -> str:
    """An empty, migrated orderflow database of this test's own (dropped afterwards)."""
    from orderflow import db

    name = f"{_TAG}_{os.urandom(3).hex()}"
    pg.create_database(pg_server, name, drop_first=True)
    url = pg_server.url(name)
    db.upgrade(url)
    yield url
    pg.drop_database(pg_server, name)


@pytest.fixture
def db_conn(order_db_url):
    conn = psycopg2.connect(order_db_url)
    yield conn
    conn.close()


@pytest.fixture(scope="session")
def airflow_db():
    """Airflow's metadata schema (``airflow db migrate`` equivalent) on this session's DB."""
    from airflow.utils import db as airflow_db_utils

    airflow_db_utils.resetdb()
    return os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
