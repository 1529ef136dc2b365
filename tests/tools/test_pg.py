"""The private PostgreSQL path of tools/pg.py: what `make run`/`make test` do on a machine without one."""

from __future__ import annotations

import socket

import psycopg2

from tools import pg
from tools.cluster import free_port


def test_private_server_starts_serves_restarts_and_stops(tmp_path):
    port = free_port()
    server = pg.private_server(tmp_path, port)
    try:
        assert server.origin == "private" and server.port == port
        pg.create_database(server, "orderflow_private_check")
        pg.create_database(server, "orderflow_private_check")  # a second run reuses it
        with psycopg2.connect(server.url("orderflow_private_check")) as conn, conn.cursor() as cur:
            cur.execute("SELECT current_setting('listen_addresses'), version()")
            listen, version = cur.fetchone()
        assert listen == "127.0.0.1"
        assert version.startswith("PostgreSQL")
        # Asking again while it runs reuses the running cluster.
        assert pg.private_server(tmp_path, port).port == port
    finally:
        pg.stop_private_server(tmp_path)
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0, "the private server is still listening"
