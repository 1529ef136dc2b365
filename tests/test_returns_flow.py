"""Returns (issue 13): the RT11 sync and the Receiver's steps against the sandbox, real PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import requests

from orderflow import returns_flow
from orderflow.hooks._http import RetryPolicy
from orderflow.hooks.mirakl import MiraklHook
from orderflow.hooks.mirakl_aftersale import LineCompliance
from orderflow.hooks.mirakl_records import order_from_payload
from orderflow.store import OrderStore
from sandbox.testing import running_sandbox

FAST = RetryPolicy(max_attempts=3, max_total_seconds=10, initial_wait=0.01, max_wait=0.05)


@pytest.fixture
def sb(monkeypatch):
    with running_sandbox(seed=17, orders=0, debit_delay=0.0, with_canadapost=False) as handle:
        for conn_id, value in handle.airflow_conn_uris().items():
            monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", value)
        yield handle


@pytest.fixture
def store(fresh_db):
    s = OrderStore(fresh_db)
    yield s
    s.close()


@pytest.fixture
def hook(sb):
    h = MiraklHook(retry_policy=FAST, timeout=(2.0, 3.0))
    yield h
    h.close()


def _shipped(sb, hook, store, method: str = "RETURN_METHOD_BY_MAIL") -> tuple[str, str]:
    (order_id,) = sb.generate_orders(1)
    order = hook.get_order(order_id)
    hook.accept_order(order_id, [ln["order_line_id"] for ln in order["order_lines"]])
    sb.advance(1)
    hook.set_tracking(order_id, "CPCL", "7023210039414604")
    hook.mark_shipped(order_id)
    store.upsert_orders([order_from_payload(hook.get_order(order_id))])
    for status in ("accepted", "label_created", "shipped"):
        store.record_transition(order_id, status, actor="test")
    ret = requests.post(f"{sb.mirakl_url}/__admin/return", json={"order_id": order_id, "method": method},
                        timeout=5).json()
    return order_id, ret["id"]


def test_a_mail_in_return_received_judged_refunded_once_and_closed(sb, hook, store):
    order_id, return_id = _shipped(sb, hook, store)
    summary = returns_flow.sync(store, hook)
    assert summary["listed"] == 1 and summary["changed"] == 1
    # Mirakl: RT11 at most every 5 minutes; a second sweep now does nothing.
    assert "skipped" in returns_flow.sync(store, hook)
    assert len(sb.calls("mirakl", "RT11")) == 1
    row = store.get_return(return_id)
    assert row["state"] == "IN_PROGRESS" and row["tracking_pin"]
    assert store.find_return(row["tracking_pin"]) == return_id and store.find_return(order_id) == return_id
    assert [r["return_id"] for r in store.open_returns()] == [return_id]

    sb.set_faults("mirakl", "RT25", drop_rate=1, count=1)  # received at Best Buy, the answer lost
    returns_flow.receive(store, hook, return_id, who="receiver1")
    assert store.get_return(return_id)["received_by"] == "receiver1"
    assert store.current_status(order_id) == "returned"
    line_ids = [rl["order_line_id"] for rl in row["return_lines"]]
    returns_flow.judge(store, hook, return_id, [LineCompliance(lid, True) for lid in line_ids], who="receiver1")
    row = store.get_return(return_id)
    lines = returns_flow.refundable_lines(store, hook, row)
    assert [ln["order_line_id"] for ln in lines] == line_ids
    assert all(ln["left"] > 0 and ln["total"] > ln["left"] for ln in lines)  # taxes shown with it

    results = returns_flow.refund(store, hook, return_id, "ITEM_RETURNED", who="receiver1")
    assert all(r.all_done for r in results) and results[-1].status == "refunded"
    again = returns_flow.refund(store, hook, return_id, "ITEM_RETURNED", who="receiver1")
    assert again == []  # nothing left on the lines: nothing sent
    n = len(line_ids)
    assert len(sb.state("mirakl")["refunds"][order_id]) == n and len(sb.calls("mirakl", "OR28")) == n
    intents = store.money_intents_for_return(return_id)
    assert sorted(i["intent_id"] for i in intents) == sorted(f"{lid}:return:{return_id}" for lid in line_ids)
    assert {i["status"] for i in intents} == {"done"}

    returns_flow.close(store, hook, return_id, who="receiver1")
    assert store.get_return(return_id)["state"] == "CLOSED" and store.open_returns() == []


def test_an_in_store_return_is_recorded_not_refunded_twice(sb, hook, store):
    order_id, return_id = _shipped(sb, hook, store, method="RETURN_METHOD_IN_STORE")
    summary = returns_flow.sync(store, hook)
    assert summary["orders_returned"] == 1
    assert [h["status"] for h in store.history(order_id)][-2:] == ["returned", "refunded"]
    row = store.get_return(return_id)
    assert returns_flow.refundable_lines(store, hook, row) == []
    with pytest.raises(returns_flow.aftersale_flows.FlowRefused):
        returns_flow.refund(store, hook, return_id, "ITEM_RETURNED", who="receiver1")
    assert len(sb.calls("mirakl", "OR28")) == 0
    assert len(sb.state("mirakl")["refunds"][order_id]) == len(row["return_lines"])  # Best Buy's own


def test_returns_arriving_at_the_configured_rate_are_synced_from_the_watermark(sb, hook, store):
    sb.mirakl.configure(return_rate=1.0, return_delay=60.0, in_store_return_share=0.0)
    first, _ = _shipped(sb, hook, store)
    sb.advance(61)
    returns_flow.sync(store, hook)
    later = datetime.now(UTC) + timedelta(minutes=6)
    assert returns_flow.sync(store, hook, now=later)["listed"] >= 1  # the overlap re-reads, changes nothing
    assert {r["order_id"] for r in store.open_returns()} >= {first}


class _PageHook:
    """RT11 answers one canned page through the real wire parser (no sandbox, no network)."""

    def __init__(self, body: str) -> None:
        self.body = body

    def list_returns(self, updated_since=None, **filters):
        from orderflow.hooks.mirakl_aftersale import parse_returns_page

        return parse_returns_page(200, self.body).returns


@pytest.mark.parametrize("malformed", [
    '{"id": "", "order_id": "O-1", "state": "RECEIVED", "return_lines": []}',
    '{"id": "R-2", "state": "RECEIVED", "return_lines": []}',
    '{"id": "R-2", "order_id": "O-1", "return_lines": []}',
    '{"id": "R-2", "order_id": "O-1", "state": "RECEIVED"}',
    '"R-2"',
])
def test_a_malformed_return_fails_the_sync_retryably_and_nothing_is_written(store, malformed):
    # A return without what the store needs fails the whole RT11 sweep with a MiraklResponseError
    # (transient: Airflow retries the task), before anything is stored or a watermark moves.
    from orderflow.hooks.mirakl_errors import MiraklPermanentError, MiraklResponseError

    good = ('{"id": "R-1", "order_id": "O-1", "state": "RECEIVED", "return_lines": [],'
            ' "last_updated": "2026-11-20T12:00:00Z"}')
    hook = _PageHook('{"data": [' + good + ", " + malformed + "]}")
    with pytest.raises(MiraklResponseError, match="malformed response body") as caught:
        returns_flow.sync(store, hook, force=True)
    assert not isinstance(caught.value, MiraklPermanentError)
    assert store.get_return("R-1") is None
    assert store.get_watermark(returns_flow.WATERMARK) is None
    assert store.get_watermark(returns_flow.LAST_SWEEP) is None
