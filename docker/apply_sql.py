"""Run one SQL file against a database: ``python apply_sql.py <url> <file.sql>``.

Used by docker/airflow-init.sh (the Airflow image has psycopg2 but no psql). Accepts SQLAlchemy
URLs (``postgresql+psycopg2://``) as Airflow's own setting is written.
"""

from __future__ import annotations

import sys
from pathlib import Path

import psycopg2


def main(url: str, path: str) -> None:
    url = url.split("://", 1)
    conn = psycopg2.connect("postgresql://" + url[1])
    try:
        with conn, conn.cursor() as cur:
            cur.execute(Path(path).read_text(encoding="utf-8"))
    finally:
        conn.close()
    print(f"applied {path}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
