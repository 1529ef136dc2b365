from __future__ import annotations

import psycopg2
import pytest

from orderflow import db, status


def test_migrations_apply_to_an_empty_database_and_rerun_is_a_noop(pg_server):
    from tools import pg

    name = "of_mig_test"
    pg.create_database(pg_server, name, drop_first=True)
    try:
        url = pg_server.url(name)
        first = db.upgrade(url)
        assert [m.version for m in first] == [m.version for m in db.discover()]
        assert len(first) >= 4
        assert db.upgrade(url) == []
        with psycopg2.connect(url) as conn, conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM schema_migrations")
            assert cur.fetchone()[0] == len(first)
            cur.execute("SELECT to_regclass('order_current_status'), to_regclass('orders')")
            assert all(cur.fetchone())
    finally:
        pg.drop_database(pg_server, name)


def test_cli_upgrade_reports_nothing_to_apply_on_a_migrated_db(order_db_url, capsys):
    assert db.main(["upgrade", "--url", order_db_url]) == 0
    assert "nothing to apply" in capsys.readouterr().out


def test_migration_files_are_named_and_numbered(tmp_path):
    (tmp_path / "001_ok.sql").write_text("SELECT 1;")
    (tmp_path / "oops.sql").write_text("SELECT 1;")
    with pytest.raises(ValueError, match="NNN_name"):
        db.discover(tmp_path)


def test_database_transition_table_equals_the_python_one(db_conn):
    with db_conn.cursor() as cur:
        cur.execute("SELECT from_status, to_status FROM status_transitions")
        in_db = set(cur.fetchall())
    assert in_db == status.all_transitions()
    with db_conn.cursor() as cur:
        cur.execute("SELECT status FROM order_statuses")
        assert {r[0] for r in cur.fetchall()} == {s.value for s in status.OrderStatus}
