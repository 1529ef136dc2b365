"""MiraklHook end to end against the Mirakl sandbox (real HTTP), including injected faults."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from orderflow.hooks._http import RetryPolicy
from orderflow.hooks.mirakl import (
    MiraklAuthenticationError,
    MiraklBadRequestError,
    MiraklHook,
    MiraklResponseError,
    MiraklTimeoutError,
)
from sandbox.openapi import validate_mirakl
from sandbox.testing import running_sandbox

FAST = RetryPolicy(max_attempts=5, max_total_seconds=20, initial_wait=0.02, max_wait=0.1)


@pytest.fixture
def sb(monkeypatch):
    with running_sandbox(orders=3, with_canadapost=False, debit_delay=0.2) as handle:
        for conn_id, value in handle.airflow_conn_uris().items():
            monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", value)
        yield handle


@pytest.fixture
def hook(sb):
    h = MiraklHook(retry_policy=FAST, timeout=(2.0, 5.0))
    yield h
    h.close()


def _calls(sb, endpoint: str, at_least: int = 1, wait: float = 3.0) -> list:
    """The sandbox's call log for ``endpoint``; it records a call just after answering it (and a hung
    call when its hang ends), so give it a moment to catch up with what the client already saw."""
    deadline = time.monotonic() + wait
    calls = sb.calls("mirakl", endpoint)
    while len(calls) < at_least and time.monotonic() < deadline:
        time.sleep(0.02)
        calls = sb.calls("mirakl", endpoint)
    return calls


def _outcomes(sb, endpoint: str, at_least: int = 1) -> list[str]:
    return [c.outcome for c in _calls(sb, endpoint, at_least)]


def test_order_lifecycle_end_to_end(sb, hook):
    since = datetime.now(UTC) - timedelta(hours=1)
    new = hook.list_orders(states=["WAITING_ACCEPTANCE"], updated_since=since)
    assert len(new) == 3
    validate_mirakl("/api/orders", "GET", 200, {"orders": new, "total_count": len(new)})
    assert "shop_id=2001" in _calls(sb, "OR11")[-1].query  # the connection's shop_id extra is sent

    order = new[0]
    order_id = order["order_id"]
    hook.accept_order(order_id, [line["order_line_id"] for line in order["order_lines"]])
    (after,) = hook.list_orders(order_ids=[order_id])
    assert after["order_state"] in {"WAITING_DEBIT", "WAITING_DEBIT_PAYMENT", "SHIPPING"}

    sb.advance(5)  # the debit happens
    (paid,) = hook.list_orders(order_ids=[order_id])
    assert paid["order_state"] == "SHIPPING"

    carriers = hook.list_carriers()
    assert "CPCL" in {c["code"] for c in carriers}
    hook.set_tracking(order_id, "CPCL", "7023210039414604")
    hook.mark_shipped(order_id)
    (shipped,) = hook.list_orders(order_ids=[order_id])
    assert shipped["order_state"] == "SHIPPED"
    assert shipped["shipping_tracking"] == "7023210039414604"

    # Repeating OR24 on a shipped order is refused with a code the caller can recognise.
    with pytest.raises(MiraklBadRequestError) as err:
        hook.mark_shipped(order_id)
    assert err.value.has_code("ORDER_INVALID_STATE")


def test_lookup_by_more_than_100_ids(sb, hook):
    ids = sb.generate_orders(2) + [f"missing-{i}-A" for i in range(150)]
    found = hook.list_orders(order_ids=ids)
    assert sorted(o["order_id"] for o in found) == sorted(ids[:2])
    assert len(_calls(sb, "OR11", 2)) == 2  # 152 ids -> chunks of 100 and 52


def test_poll_sweeps_all_pages(sb, hook):
    sb.generate_orders(230)
    orders = hook.list_orders()
    assert len(orders) == 233 and len({o["order_id"] for o in orders}) == 233
    assert len(_calls(sb, "OR11", 3)) == 3


def test_wrong_key_is_permanent(sb, monkeypatch):
    import json

    monkeypatch.setenv(
        "AIRFLOW_CONN_MIRAKL_DEFAULT",
        json.dumps({"conn_type": "mirakl", "host": sb.mirakl_url, "password": "Bearer " + sb.mirakl_api_key}),
    )
    with pytest.raises(MiraklAuthenticationError):
        MiraklHook(retry_policy=FAST).list_carriers()
    assert MiraklHook(retry_policy=FAST).test_connection()[0] is False
    assert len(_calls(sb, "SH21", 2)) == 2  # one each: never retried


def test_inbox_end_to_end(sb, hook):
    since = datetime.now(UTC) - timedelta(minutes=5)
    ((thread_id, _),) = sb.generate_messages(1)
    threads = hook.list_threads(updated_since=since)
    assert thread_id in {t["id"] for t in threads}
    thread = hook.get_thread(thread_id)
    validate_mirakl("/api/inbox/threads/{thread_id}", "GET", 200, thread)
    customer = next(p for p in thread["current_participants"] if p["type"] == "CUSTOMER")
    before = len(thread["messages"])

    created = hook.reply_to_thread(thread_id, "Thanks, your order ships today.", customer["id"])
    assert created["thread_id"] == thread_id
    assert len(hook.get_thread(thread_id)["messages"]) == before + 1

    order_id = thread["entities"][0]["id"]
    assert thread_id in {t["id"] for t in hook.list_threads(entity_id=order_id)}
    new = hook.create_order_thread(order_id, "Your parcel is delayed by one day.", "Delivery delay")
    opened = hook.get_thread(new["thread_id"])
    assert opened["messages"][-1]["body"] == "Your parcel is delayed by one day."


def test_thread_pages_are_all_read(sb, hook):
    sb.generate_messages(120, new_thread=True)
    threads = hook.list_threads()
    assert len(threads) == len({t["id"] for t in threads}) >= 120
    assert len(_calls(sb, "M11", 3)) >= 3  # default page of 50


# -- faults --------------------------------------------------------------------------------------------
def test_429_with_retry_after_is_waited_out(sb):
    sb.set_faults("mirakl", "SH21", throttle_rate=1, count=1, retry_after=1)
    hook = MiraklHook(retry_policy=FAST)  # real sleep
    started = time.monotonic()
    assert hook.list_carriers()
    assert time.monotonic() - started >= 1.0
    assert _outcomes(sb, "SH21", 2) == ["throttled", "ok"]


def test_5xx_storm_then_success(sb, hook):
    sb.set_faults("mirakl", "OR11", error_rate=1, count=3)
    assert len(hook.list_orders()) == 3
    assert _outcomes(sb, "OR11", 4) == ["fault", "fault", "fault", "ok"]


def test_hang_times_out_and_is_retried(sb):
    sb.set_faults("mirakl", "SH21", hang_rate=1, count=1, hang_seconds=1)
    hook = MiraklHook(retry_policy=FAST, timeout=(2.0, 0.3))
    started = time.monotonic()
    assert hook.list_carriers()
    assert time.monotonic() - started < 0.9  # did not wait for the hung answer
    assert sorted(_outcomes(sb, "SH21", 2)) == ["hung", "ok"]


def test_malformed_body_is_a_clear_error(sb, hook):
    ids = sb.generate_orders(2)
    sb.set_faults("mirakl", "OR11", malformed_rate=1, count=1)
    with pytest.raises(MiraklResponseError, match="malformed response body"):
        hook.list_orders()
    assert len(_calls(sb, "OR11", 2, wait=0.3)) == 1  # not retried blindly, not swallowed
    assert len(hook.list_orders(order_ids=ids)) == 2  # the next, clean answer parses


def test_accept_committed_then_dropped_is_recognisable(sb, hook):
    (order,) = hook.list_orders(order_ids=sb.generate_orders(1))
    sb.set_faults("mirakl", "OR21", drop_rate=1, count=1)
    with pytest.raises(MiraklBadRequestError) as err:
        hook.accept_order(order["order_id"], [line["order_line_id"] for line in order["order_lines"]])
    assert err.value.has_code("ORDER_INVALID_STATE") and err.value.after_ambiguous_attempt
    (now,) = hook.list_orders(order_ids=[order["order_id"]])
    assert now["order_state"] != "WAITING_ACCEPTANCE"  # the first attempt did go through


def test_tracking_and_ship_survive_commit_then_drop(sb, hook):
    (order,) = hook.list_orders(order_ids=sb.generate_orders(1))
    hook.accept_order(order["order_id"], [line["order_line_id"] for line in order["order_lines"]])
    sb.advance(5)
    sb.set_faults("mirakl", "OR23", drop_rate=1, count=1)
    hook.set_tracking(order["order_id"], "CPCL", "1234567890123456")  # a repeated PUT sets the same value
    assert _outcomes(sb, "OR23", 2) == ["dropped", "ok"]


def test_reply_hang_after_commit_is_not_resent(sb):
    ((thread_id, _),) = sb.generate_messages(1)
    hook = MiraklHook(retry_policy=FAST, timeout=(2.0, 0.4))
    thread = hook.get_thread(thread_id)
    customer = next(p for p in thread["current_participants"] if p["type"] == "CUSTOMER")
    before = len(thread["messages"])
    sb.set_faults("mirakl", "M12", hang_after_commit=True, hang_rate=1, count=1, hang_seconds=2)
    with pytest.raises(MiraklTimeoutError) as err:
        hook.reply_to_thread(thread_id, "We are on it.", customer["id"])
    assert err.value.may_have_been_applied
    assert _outcomes(sb, "M12") == ["hung"]
    assert len(_calls(sb, "M12", 2, wait=0.3)) == 1  # one attempt only
    assert len(hook.get_thread(thread_id)["messages"]) == before + 1  # exactly one message
