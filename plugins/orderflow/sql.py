"""Named SQL: every query lives in include/sql/queries/<name>.sql, loaded once and cached."""

from __future__ import annotations

import functools
import os
from pathlib import Path

# plugins/orderflow/sql.py -> repo root is three levels up; ORDERFLOW_SQL_DIR overrides it for
# deployments that mount include/ elsewhere (the Docker image mounts it at /opt/airflow/include).
SQL_DIR = Path(
    os.environ.get("ORDERFLOW_SQL_DIR") or Path(__file__).resolve().parents[2] / "include" / "sql"
)
MIGRATIONS_DIR = SQL_DIR / "migrations"
QUERIES_DIR = SQL_DIR / "queries"


@functools.cache
def query(name: str) -> str:
    """Return the text of include/sql/queries/<name>.sql."""
    path = QUERIES_DIR / f"{name}.sql"
    if not path.is_file():
        raise KeyError(f"no named query {name!r} in {QUERIES_DIR}")
    return path.read_text(encoding="utf-8")
