"""The store's connection settings: an Airflow Connection (``orderflow_db``) as PostgresHook reads it.

Imported only by ``StoreBase.from_conn_id``: it imports Airflow and the Postgres provider, which a
DAG file's parse must not pay for.
"""

from __future__ import annotations

import threading
from typing import Any, cast

import psycopg2
import psycopg2.extensions
from airflow.providers.postgres.hooks.postgres import PostgresHook

# What the store connects with where the Connection leaves a field out (the store's defaults from
# before it read the Connection through PostgresHook; the hook itself would leave them to libpq).
DEFAULTS: dict[str, Any] = {
    "host": "127.0.0.1",
    "port": 5432,
    "user": "postgres",
    "dbname": "orderflow",
    "application_name": "orderflow",
}


# libpq's connection keywords (PostgreSQL 15 docs, "Parameter Key Words") less those PostgresHook fills
# from the Connection's own fields: the extras the store hands to libpq. Any other extra (a typo, an
# option of another driver) is left out, as before the store read the Connection through PostgresHook,
# instead of failing every connection with "invalid connection option".
LIBPQ_EXTRAS = frozenset({
    "hostaddr", "passfile", "channel_binding", "connect_timeout", "client_encoding", "options",
    "application_name", "fallback_application_name", "keepalives", "keepalives_idle", "keepalives_interval",
    "keepalives_count", "tcp_user_timeout", "replication", "gssencmode", "sslmode", "requiressl",
    "sslcompression", "sslcert", "sslkey", "sslpassword", "sslrootcert", "sslcrl", "sslcrldir", "sslsni",
    "requirepeer", "ssl_min_protocol_version", "ssl_max_protocol_version", "krbsrvname", "gsslib",
    "service", "target_session_attrs",
})
CONNECTION_FIELDS = frozenset({"host", "port", "user", "password", "dbname"})


class OrderDbHook(PostgresHook):
    """PostgresHook on psycopg2: the Connection's host, port, login, password and schema, its libpq
    extras (:data:`LIBPQ_EXTRAS`: ``sslmode``, ``sslrootcert``, ``connect_timeout``, ``application_name``...)
    and the provider's IAM tokens, with :data:`DEFAULTS` for what the Connection leaves out or leaves empty.

    Only the driver call is ours: the provider connects with psycopg 3 whenever SQLAlchemy 2 is
    installed (always under Airflow 3), and the store is written for psycopg2 (``RealDictCursor``,
    ``execute_values``, ``psycopg2.errors``). The store chooses its own cursors, so a Connection's
    ``cursor`` extra is not applied.
    """

    default_conn_name = "orderflow_db"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._local = threading.local()
        super().__init__(*args, **kwargs)

    # PostgresHook.get_conn keeps the connection it opens on ``self.conn`` and returns that
    # attribute: per thread here, so the store's pool threads can connect at once (outside any lock)
    # without one being handed another's connection.
    @property
    def conn(self) -> Any:
        return getattr(self._local, "conn", None)

    @conn.setter
    def conn(self, value: Any) -> None:
        self._local.conn = value

    def _create_connection(self, conn_args: dict[str, Any]) -> Any:
        # An empty field is a field left out: a URI without a path gives schema "" (Airflow's
        # Connection.from_uri), which must mean the store's database, not libpq's default one.
        args = {k: v for k, v in conn_args.items()
                if v not in (None, "") and (k in CONNECTION_FIELDS or k in LIBPQ_EXTRAS)}
        return psycopg2.connect(**(DEFAULTS | args))

    def connect(self) -> psycopg2.extensions.connection:
        """A new connection the caller owns (the hook keeps no reference: a pooled connection must
        not outlive its pool, e.g. across a fork)."""
        try:
            return cast("psycopg2.extensions.connection", self.get_conn())  # _create_connection's
        finally:
            self.conn = None
