"""Named SQL: every query lives in include/sql/queries/<name>.sql, loaded once and cached."""

from __future__ import annotations

import functools
import os
from pathlib import Path


def _find_sql_dir() -> Path:
    """Where the SQL is: ORDERFLOW_SQL_DIR (deployments that mount include/ elsewhere), else the copy an
    installed wheel carries inside the package (orderflow/include/sql), else the repository checkout's
    include/sql (plugins/orderflow/sql.py -> the repo root is three levels up)."""
    if override := os.environ.get("ORDERFLOW_SQL_DIR"):
        return Path(override)
    packaged = Path(__file__).resolve().parent / "include" / "sql"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "include" / "sql"


SQL_DIR = _find_sql_dir()
MIGRATIONS_DIR = SQL_DIR / "migrations"
QUERIES_DIR = SQL_DIR / "queries"


@functools.cache
def query(name: str) -> str:
    """Return the text of include/sql/queries/<name>.sql."""
    path = QUERIES_DIR / f"{name}.sql"
    if not path.is_file():
        raise KeyError(f"no named query {name!r} in {QUERIES_DIR}")
    return path.read_text(encoding="utf-8")
