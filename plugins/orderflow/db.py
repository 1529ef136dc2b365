"""Schema migrations: ``python -m orderflow.db upgrade [--url URL]``.

Applies include/sql/migrations/NNN_name.sql in order, each in its own transaction, recording the
version, name and checksum in ``schema_migrations``; an applied version is never re-applied, and a
changed applied file is reported, not silently re-run. A session-level advisory lock makes two
concurrent upgrades (compose init and a developer, say) wait for each other.

The URL comes from --url, else ORDERFLOW_DATABASE_URL, else the AIRFLOW_CONN_ORDERFLOW_DB
environment variable (URI form). Airflow is not imported: this runs before Airflow exists.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import psycopg2

from orderflow.sql import MIGRATIONS_DIR

_MIGRATION_NAME = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")
_LOCK_KEY = 7_263_451_001  # arbitrary, fixed: "orderflow migrations"


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path

    @property
    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8")

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    found: list[Migration] = []
    for path in sorted(directory.glob("*.sql")):
        match = _MIGRATION_NAME.match(path.name)
        if not match:
            raise ValueError(f"migration file {path.name} is not named NNN_name.sql")
        found.append(Migration(int(match.group(1)), match.group(2), path))
    versions = [m.version for m in found]
    if len(versions) != len(set(versions)):
        raise ValueError(f"duplicate migration versions in {directory}")
    return found


def resolve_url(url: str | None = None) -> str:
    url = url or os.environ.get("ORDERFLOW_DATABASE_URL") or os.environ.get("AIRFLOW_CONN_ORDERFLOW_DB")
    if not url:
        raise SystemExit("no database: pass --url or set ORDERFLOW_DATABASE_URL")
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    return url.split("?__extra__", 1)[0]


def upgrade(url: str | None = None, directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Apply pending migrations; return the ones applied by this call."""
    conn = psycopg2.connect(resolve_url(url))
    applied_now: list[Migration] = []
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
            cur.execute(
                """CREATE TABLE IF NOT EXISTS schema_migrations (
                       version integer PRIMARY KEY,
                       name text NOT NULL,
                       checksum text NOT NULL,
                       applied_at timestamptz NOT NULL DEFAULT now())"""
            )
            cur.execute("SELECT version, checksum FROM schema_migrations")
            done = dict(cur.fetchall())
        conn.autocommit = False
        for migration in discover(directory):
            if migration.version in done:
                if done[migration.version] != migration.checksum:
                    print(
                        f"warning: applied migration {migration.path.name} has changed since; "
                        "write a new migration instead of editing an applied one",
                        file=sys.stderr,
                    )
                continue
            with conn.cursor() as cur:
                cur.execute(migration.sql)
                cur.execute(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                    (migration.version, migration.name, migration.checksum),
                )
            conn.commit()
            applied_now.append(migration)
    finally:
        conn.rollback()
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
        conn.close()
    return applied_now


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m orderflow.db", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("upgrade", help="apply pending migrations")
    up.add_argument("--url", help="PostgreSQL URL of the orderflow database")
    args = parser.parse_args(argv)
    if args.command == "upgrade":
        applied = upgrade(args.url)
        names = ", ".join(m.path.name for m in applied) or "nothing to apply"
        print(f"orderflow db upgrade: {names}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
