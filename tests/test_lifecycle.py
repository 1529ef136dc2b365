"""Every list that SQL or a Grafana panel spells equals the one orderflow.lifecycle names."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from orderflow import lifecycle as lc
from orderflow.hooks.mirakl_api import ORDER_STATES

ROOT = Path(__file__).resolve().parents[1]
DASHBOARD = ROOT / "grafana" / "dashboards" / "orders.json"


def _panels(panels):
    for p in panels:
        yield p
        yield from _panels(p.get("panels", []))


def _sql_of(title: str) -> str:
    panels = [p for p in _panels(json.loads(DASHBOARD.read_text())["panels"]) if p.get("title") == title]
    assert panels, f"no panel {title!r}"
    return "\n".join(t.get("rawSql", "") for p in panels for t in p.get("targets", []))


def _in_lists(sql: str, column: str) -> list[set[str]]:
    return [set(re.findall(r"'([a-z_]+)'", m)) for m in re.findall(rf"{column}\s+IN\s*\(([^)]*)\)", sql)]


def test_every_mirakl_state_is_in_exactly_one_group():
    groups = [lc.MIRAKL_WAITING_ACCEPTANCE, lc.MIRAKL_WAITING_DEBIT, lc.MIRAKL_SHIPPING, lc.MIRAKL_SHIPPED,
              frozenset(lc.MIRAKL_ENDED)]
    assert sorted(s for g in groups for s in g) == sorted(ORDER_STATES)
    assert {str(m) for m in lc.MiraklState} == ORDER_STATES


def test_shipment_sets_cover_the_table_check(db_conn):
    with db_conn.cursor() as cur:
        cur.execute("SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'shipments_status_check'")
        (definition,) = cur.fetchone()
    assert set(re.findall(r"'([a-z_]+)'", definition)) == {str(s) for s in lc.ShipmentStatus}
    assert set(lc.ShipmentStatus) == lc.MAY_HOLD_MONEY | lc.SETTLED
    assert not lc.MAY_HOLD_MONEY & lc.SETTLED
    assert lc.VOIDABLE <= lc.MAY_HOLD_MONEY


@pytest.mark.parametrize(("constraint", "enum"), [("shipping_groups_status_check", lc.GroupStatus),
                                                  ("manifests_status_check", lc.ManifestStatus)])
def test_group_and_manifest_statuses_equal_the_table_checks(db_conn, constraint, enum):
    with db_conn.cursor() as cur:
        cur.execute("SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = %s", (constraint,))
        (definition,) = cur.fetchone()
    assert set(re.findall(r"'([a-z_]+)'", definition)) == {str(s) for s in enum}
    assert set(lc.GroupStatus) == lc.GROUP_UNSETTLED | lc.GROUP_SETTLED
    assert not lc.GROUP_UNSETTLED & lc.GROUP_SETTLED
    assert set(lc.GroupStatus) >= lc.GROUP_VOIDABLE | lc.GROUP_IN_DOUBT | lc.GROUP_MANIFESTED


@pytest.mark.parametrize("title", ["Orders needing a person", "Orders needing a person now",
                                   "Failures by step and reason"])
def test_person_panels_list_the_failed_states(title):
    lists = _in_lists(_sql_of(title), "status")
    assert lists and all(found == {str(s) for s in lc.FAILED_STATES} for found in lists)
    assert set(lc.PERSON_STATES) == lc.FAILED_STATES


@pytest.mark.parametrize("title", ["Label spend", "Label spend per day"])
def test_label_spend_counts_the_bought_shipments(title):
    lists = _in_lists(_sql_of(title), "status")
    assert lists and all(found == {str(s) for s in lc.BOUGHT} for found in lists)


@pytest.mark.parametrize("title", ["Deadline within $risk_hours h",
                                   "Orders at risk of missing Best Buy deadlines (within $risk_hours h)"])
def test_deadline_panels_watch_every_open_status(title):
    lists = _in_lists(_sql_of(title), "current_status")
    assert {str(s) for s in lc.OPEN} in lists
    assert {str(s) for s in lc.ACCEPTANCE_INPUT} | {str(lc.S.ACCEPTANCE_FAILED)} in lists


def _body(path: Path) -> str:
    return "\n".join(line.split("--")[0] for line in path.read_text().splitlines())


def test_named_queries_take_their_lists_as_parameters():
    """The queries that select by a lifecycle set get it from the module, never spell it..."""
    queries = ROOT / "include" / "sql" / "queries"
    for name in ("void_candidates", "pack_queue", "claim_orders", "mark_shipment_voided",
                 "mark_shipment_refund_requested"):
        body = _body(queries / f"{name}.sql")
        assert not re.search(r"(current_status\s*(IN\s*\(|=\s*')|\bs\.status\s+IN)", body), f"{name}.sql"


def test_the_to_pack_predicate_spells_the_printable_set():
    """... except the "labelled parcel not packed yet" predicate, spelled so the partial index
    shipments_to_pack_idx (migration 010) serves it: it must equal lifecycle.PRINTABLE."""
    printable = {str(s) for s in lc.PRINTABLE}
    files = [ROOT / "include" / "sql" / "queries" / f"{n}.sql"
             for n in ("pack_queue", "claim_orders", "pack_unpacked_parcels")]
    files.append(ROOT / "include" / "sql" / "migrations" / "010_packing_fact.sql")
    for path in files:
        found = set(re.findall(r"\bstatus\s*=\s*'([a-z_]+)'\s+AND\s+(?:s\.)?packing_expected", _body(path)))
        assert found == printable, path.name


def test_no_operator_keeps_its_own_copy_of_a_lifecycle_list():
    spelled = re.compile(r"""frozenset\(\s*\{\s*["'](SHIPPING|SHIPPED|CANCELED|WAITING_\w+)["']|"""
                         r"""=\s*\(\s*["'](intent|created|label_stored)["']""")
    for path in (ROOT / "plugins" / "orderflow").rglob("*.py"):
        if path.name in ("lifecycle.py", "mirakl_api.py"):
            continue
        assert not spelled.search(path.read_text()), f"{path.relative_to(ROOT)} spells a lifecycle list"


def test_status_module_is_the_lifecycle_one():
    from orderflow import status

    assert status.TRANSITIONS is lc.TRANSITIONS
    assert status.TransitionRefused is lc.TransitionRefused


MONEY_QUERIES = ("money_mark_attempt", "money_mark_done", "money_mark_failed", "money_note_error",
                 "money_open_intents")


def test_money_queries_take_the_intent_statuses_as_parameters():
    """The money-intent queries get ``intent``/``done``/``failed`` from lifecycle.MoneyIntentStatus."""
    queries = ROOT / "include" / "sql" / "queries"
    for name in MONEY_QUERIES:
        body = _body(queries / f"{name}.sql")
        assert "status" in body, name
        assert not re.search(r"\bstatus\s*(=|IN)\s*\(?\s*'", body), f"{name}.sql spells a money intent status"


def test_money_intent_statuses_equal_the_table_check_and_the_open_index(db_conn):
    with db_conn.cursor() as cur:
        cur.execute("SELECT pg_get_constraintdef(oid) FROM pg_constraint"
                    " WHERE conrelid = 'money_intents'::regclass AND contype = 'c'"
                    " AND pg_get_constraintdef(oid) LIKE '%%status%%'")
        (check,) = [r[0] for r in cur.fetchall()]
        cur.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'money_intents'"
                    " AND indexdef LIKE '%%WHERE%%status%%'")
        partial = dict(cur.fetchall())
    assert set(re.findall(r"'([a-z_]+)'", check)) == {str(s) for s in lc.MoneyIntentStatus}
    assert set(partial) == {"money_intents_one_open_per_line", "money_intents_open_idx"}
    for name, definition in partial.items():
        assert set(re.findall(r"'([a-z_]+)'", definition)) == {str(lc.MI.INTENT)}, name


def test_order_event_kinds_equal_the_table_check(db_conn):
    with db_conn.cursor() as cur:
        cur.execute("SELECT pg_get_constraintdef(oid) FROM pg_constraint"
                    " WHERE conrelid = 'order_events'::regclass AND contype = 'c'")
        (check,) = [r[0] for r in cur.fetchall()]
    assert set(re.findall(r"'([a-z_]+)'", check)) == {str(e) for e in lc.OrderEvent}


def test_auto_reply_statuses_are_the_ledgers():
    """auto_replies' CHECK (migration 003) holds exactly AutoReplyStatus; the open-rows index
    (006) and the query that lists them re-work exactly AUTO_REPLY_REWORKABLE."""
    check = re.search(r"auto_replies.*?status\s+text[^\n]*CHECK \(status IN \(([^)]*)\)\)",
                      _body(ROOT / "include" / "sql" / "migrations" / "003_messaging.sql"), re.S)
    assert check is not None
    assert set(re.findall(r"'([a-z_]+)'", check.group(1))) == {str(s) for s in lc.AutoReplyStatus}
    index = re.search(r"auto_replies_open_idx .*?WHERE status IN \(([^)]*)\)",
                      _body(ROOT / "include" / "sql" / "migrations" / "006_messaging_extra.sql"))
    assert index is not None
    rework = {str(s) for s in lc.AUTO_REPLY_REWORKABLE}
    assert set(re.findall(r"'([a-z_]+)'", index.group(1))) == rework
    query = _body(ROOT / "include" / "sql" / "queries" / "msg_open_auto_replies.sql")
    listed = set(re.findall(r"status = '([a-z_]+)'", query))
    assert listed == rework
