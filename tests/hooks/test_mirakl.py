"""MiraklHook over real HTTP against a local scripted server: requests on the wire, parsing, errors,
retries, timeouts, rate limits, secrecy."""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime

import pytest
from airflow.sdk.exceptions import AirflowFailException

from orderflow.hooks._http import WINDOW_SAFETY_MARGIN_SECONDS, RateLimiter, RetryPolicy
from orderflow.hooks.mirakl import (
    CONNECTION_TYPE_INFO,
    MiraklAuthenticationError,
    MiraklBadRequestError,
    MiraklConnectionError,
    MiraklHook,
    MiraklNotFoundError,
    MiraklRateLimitError,
    MiraklResponseError,
    MiraklRetryableError,
    MiraklServerError,
    MiraklTimeoutError,
    MiraklValidationError,
)
from sandbox.openapi import validate_mirakl
from tests.hooks import _mirakl_fixtures as fx
from tests.hooks.conftest import Recorded, Reply

FAST = RetryPolicy(max_attempts=4, max_total_seconds=10, initial_wait=0.01, max_wait=0.02)


@pytest.fixture
def conn_env(monkeypatch, scripted_server):
    def set_conn(**extra):
        monkeypatch.setenv(
            "AIRFLOW_CONN_MIRAKL_DEFAULT",
            json.dumps({"conn_type": "mirakl", "host": scripted_server.url, "password": fx.API_KEY, "extra": extra}),
        )

    set_conn()
    return set_conn


@pytest.fixture
def hook(conn_env):
    sleeps: list[float] = []
    h = MiraklHook(retry_policy=FAST, sleep=lambda s: (sleeps.append(s), time.sleep(min(s, 0.05))))
    h.sleeps = sleeps  # type: ignore[attr-defined]
    yield h
    h.close()


def assert_common_headers(req: Recorded) -> None:
    assert req.header("Authorization") == fx.API_KEY  # raw key, no "Bearer"
    assert req.header("Accept") == "application/json"


# -- construction & connection -------------------------------------------------------------------------
def test_init_only_stores_arguments(monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_MIRAKL_DEFAULT", raising=False)
    h = MiraklHook("no_such_conn", rate_limits={"OR11_poll": 2})  # no lookup, no error
    assert h.mirakl_conn_id == "no_such_conn" and h._session is None
    assert (MiraklHook.conn_name_attr, MiraklHook.default_conn_name, MiraklHook.conn_type) == (
        "mirakl_conn_id",
        "mirakl_default",
        "mirakl",
    )
    assert CONNECTION_TYPE_INFO["hook-class-name"] == "orderflow.hooks.mirakl.MiraklHook"
    assert MiraklHook.get_ui_field_behaviour()["relabeling"]["password"] == "Shop API key"


def test_connection_extras_shop_id_timeout_rate_limits(conn_env, scripted_server):
    conn_env(shop_id="2001", timeout=[2, 7], rate_limits={"OR11_lookup": 12, "OR21": 0})
    h = MiraklHook(rate_limits={"OR23": 5})
    scripted_server.reply(Reply(200, fx.carriers()))
    h.list_carriers()
    assert scripted_server.last.query == {"shop_id": ["2001"]}
    assert h.timeout == (2.0, 7.0)
    assert h.rate_limits["OR11_lookup"] == 12 and h.rate_limits["OR21"] is None and h.rate_limits["OR23"] == 5
    assert h.rate_limits["OR11_poll"] == 1.0


def test_bad_connection_config_is_a_clear_permanent_error(conn_env, monkeypatch, scripted_server):
    conn_env(rate_limits={"OR99": 1})
    with pytest.raises(MiraklValidationError, match="unknown rate limit key"):
        MiraklHook().get_conn()
    conn_env(shop_id="shop-one")
    with pytest.raises(MiraklValidationError, match="shop_id must be an integer"):
        MiraklHook().get_conn()
    monkeypatch.setenv("AIRFLOW_CONN_MIRAKL_DEFAULT", json.dumps({"conn_type": "mirakl", "host": scripted_server.url}))
    with pytest.raises(MiraklValidationError, match="no API key"):
        MiraklHook().get_conn()


def test_host_without_scheme_uses_schema_and_port(monkeypatch, scripted_server):
    port = scripted_server.url.rsplit(":", 1)[1]
    monkeypatch.setenv(
        "AIRFLOW_CONN_MIRAKL_DEFAULT",
        json.dumps(
            {"conn_type": "mirakl", "host": "127.0.0.1", "schema": "http", "port": int(port), "password": fx.API_KEY}
        ),
    )
    scripted_server.reply(Reply(200, fx.carriers()))
    h = MiraklHook()
    assert len(h.list_carriers()) == 2
    assert h.base_url == scripted_server.url


def test_test_connection(hook, scripted_server):
    scripted_server.reply(Reply(200, fx.carriers()))
    ok, message = hook.test_connection()
    assert ok and message.endswith("the shop API key works (2 carriers)")
    scripted_server.reply(Reply(401, {"message": "Unauthorized", "status": 401}))
    ok, message = hook.test_connection()
    assert not ok and "HTTP 401" in message and fx.API_KEY not in message


# -- OR11 ----------------------------------------------------------------------------------------------
def test_list_orders_paginates_all_pages(hook, scripted_server):
    all_orders = [fx.order(f"{i}-A", "SHIPPING", lines=1) for i in range(250)]

    def pages(req: Recorded) -> Reply:
        offset, size = int(req.query["offset"][0]), int(req.query["max"][0])
        return Reply(200, fx.orders_page(all_orders[offset : offset + size], total_count=len(all_orders)))

    scripted_server.route(pages)
    since = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    orders = hook.list_orders(states=["SHIPPING"], updated_since=since)
    assert [o["order_id"] for o in orders] == [f"{i}-A" for i in range(250)]
    assert [r.query["offset"] for r in scripted_server.requests] == [["0"], ["100"], ["200"]]
    first = scripted_server.requests[0]
    assert (first.method, first.path) == ("GET", "/api/orders")
    assert_common_headers(first)
    assert first.query["start_update_date"] == ["2026-11-20T10:00:00Z"]
    assert first.query["order_state_codes"] == ["SHIPPING"]
    assert first.query["max"] == ["100"]
    assert "shop_id" not in first.query


def test_a_sweep_ending_early_is_an_error_not_a_short_result(hook, scripted_server):
    """An empty page before total_count: the orders not seen may be the very ones the caller must not
    skip (ingest would move its watermark past them), so the sweep fails instead of returning part."""
    scripted_server.reply(
        Reply(200, fx.orders_page([fx.order("1-A")], total_count=5)),
        Reply(200, fx.orders_page([], 5), headers={"X-Request-Id": "req-42"}),
    )
    with pytest.raises(MiraklResponseError, match=r"incomplete.*offset 1 before total_count 5") as err:
        hook.list_orders(updated_since=datetime(2026, 11, 20, 10, 0, tzinfo=UTC))
    assert err.value.operation == "OR11" and err.value.status == 200
    # Not a retry of a transport error inside the hook, and not a permanent error that would stop the
    # task for good: the task retries and sweeps again from the same watermark.
    assert not isinstance(err.value, MiraklRetryableError | AirflowFailException)
    assert [r.query["offset"] for r in scripted_server.requests] == [["0"], ["1"]]


def test_a_sweep_reaching_total_count_needs_no_empty_page(hook, scripted_server):
    scripted_server.reply(
        Reply(200, fx.orders_page([fx.order("1-A"), fx.order("2-A")], total_count=2)),
        Reply(500, {"message": "must not be asked"}),
    )
    assert [o["order_id"] for o in hook.list_orders()] == ["1-A", "2-A"]
    assert len(scripted_server.requests) == 1


def test_list_orders_yields_an_order_once_when_pages_overlap(hook, scripted_server):
    a, b, c = (fx.order(f"{i}-A", lines=1) for i in "abc")
    scripted_server.reply(
        Reply(200, fx.orders_page([a, b], 3)), Reply(200, fx.orders_page([b, c], 4)), Reply(200, fx.orders_page([], 4))
    )
    assert [o["order_id"] for o in hook.list_orders()] == ["a-A", "b-A", "c-A"]


def test_list_orders_by_ids_splits_into_chunks_of_100(hook, scripted_server):
    ids = [f"{i}-A" for i in range(230)] + ["5-A"]  # a duplicate is asked once

    def lookup(req: Recorded) -> Reply:
        asked = req.query["order_ids"][0].split(",")
        found = [fx.order(oid, "WAITING_ACCEPTANCE", lines=1) for oid in asked if not oid.startswith("7")]
        return Reply(200, fx.orders_page(found))

    scripted_server.route(lookup)
    orders = hook.list_orders(order_ids=ids)
    chunks = [r.query["order_ids"][0].split(",") for r in scripted_server.requests]
    assert [len(c) for c in chunks] == [100, 100, 30]
    assert [oid for chunk in chunks for oid in chunk] == [f"{i}-A" for i in range(230)]
    assert len(orders) == 230 - len([i for i in range(230) if str(i).startswith("7")])
    assert all(r.query.keys() >= {"order_ids", "max", "offset"} for r in scripted_server.requests)


def test_list_orders_refuses_an_order_not_asked_for(hook, scripted_server):
    scripted_server.reply(Reply(200, fx.orders_page([fx.order("9-A")])))
    with pytest.raises(MiraklResponseError, match="9-A that was not asked for"):
        hook.list_orders(order_ids=["1-A"])


def test_list_orders_refuses_an_order_in_another_state(hook, scripted_server):
    scripted_server.reply(Reply(200, fx.orders_page([fx.order("1-A", "SHIPPED")])))
    with pytest.raises(MiraklResponseError, match="outside the requested states"):
        hook.list_orders(states="WAITING_ACCEPTANCE")


@pytest.mark.parametrize(
    "reply",
    [
        Reply(200, '{"orders": [{"order_id": "1-A", "order_state": "SHIPPING"}'),  # cut JSON
        Reply(200, {"total_count": 3}),
        Reply(200, b""),
        Reply(200, "<html>maintenance</html>"),
    ],
)
def test_list_orders_malformed_body_is_a_clear_error_not_an_empty_list(hook, scripted_server, reply):
    scripted_server.reply(reply)
    with pytest.raises(MiraklResponseError, match="malformed response body"):
        hook.list_orders()
    assert len(scripted_server.requests) == 1  # not retried in the hook


def test_or11_poll_is_rate_limited_per_sweep_and_first_call_is_free(hook, scripted_server):
    scripted_server.reply(Reply(200, fx.orders_page([])))
    clock = [0.0]
    waits: list[float] = []
    # Same shared limiter the hook uses; swap its clock/sleep for a fake minute.
    hook.get_conn()
    limiter = RateLimiter.shared("mirakl:mirakl_default:OR11_poll", 1)
    limiter._clock = lambda: clock[0]
    limiter._sleep = lambda s: (waits.append(s), clock.__setitem__(0, clock[0] + s))
    hook.list_orders(updated_since=datetime(2026, 1, 1, tzinfo=UTC))
    assert waits == []
    clock[0] += 15
    hook.list_orders(updated_since=datetime(2026, 1, 1, tzinfo=UTC))
    assert waits == [pytest.approx(45.0 + WINDOW_SAFETY_MARGIN_SECONDS)]  # the minute plus the margin
    # A second hook instance shares the budget.
    MiraklHook(retry_policy=FAST).list_orders()
    assert len(waits) == 2
    # Look-ups by id do not touch the poll budget.
    scripted_server.reply(Reply(200, fx.orders_page([])))
    hook.list_orders(order_ids=["1-A"])
    assert len(waits) == 2


def test_or11_lookup_budget_is_separate_and_configurable(conn_env, scripted_server):
    conn_env(rate_limits={"OR11_lookup": 2})
    scripted_server.reply(Reply(200, fx.orders_page([])))
    h = MiraklHook(retry_policy=FAST)
    h.get_conn()
    limiter = RateLimiter.shared("mirakl:mirakl_default:OR11_lookup", 2)
    waits: list[float] = []
    limiter._sleep = lambda s: (waits.append(s), limiter._calls.clear())
    h.list_orders(order_ids=[f"{i}-A" for i in range(250)])  # 3 requests, budget 2/min
    assert len(scripted_server.requests) == 3
    assert len(waits) == 1 and 59 + WINDOW_SAFETY_MARGIN_SECONDS < waits[0] <= 60 + WINDOW_SAFETY_MARGIN_SECONDS


# -- OR21 / OR23 / OR24 --------------------------------------------------------------------------------
def test_accept_order_request(hook, scripted_server):
    scripted_server.reply(Reply(204))
    assert hook.accept_order("1001-A", ["1001-A-1", "1001-A-2"]) is None
    req = scripted_server.last
    assert (req.method, req.path) == ("PUT", "/api/orders/1001-A/accept")
    assert_common_headers(req)
    assert req.header("Content-Type") == "application/json"
    assert req.json() == {"order_lines": [{"accepted": True, "id": "1001-A-1"}, {"accepted": True, "id": "1001-A-2"}]}
    validate_mirakl("/api/orders/{order_id}/accept", "PUT", 204, req.json(), kind="request")


def test_accept_order_invalid_state_exposes_the_code(hook, scripted_server):
    scripted_server.reply(
        Reply(400, {"message": "ORDER_INVALID_STATE: Order is not in the expected state", "status": 400})
    )
    with pytest.raises(MiraklBadRequestError) as err:
        hook.accept_order("1001-A", ["1001-A-1"])
    assert err.value.code == "ORDER_INVALID_STATE" and err.value.status == 400
    assert err.value.after_ambiguous_attempt is False
    assert len(scripted_server.requests) == 1  # permanent: not retried


def test_retried_accept_that_finds_the_order_accepted_is_recognisable(hook, scripted_server):
    # First attempt: the server applied it but the answer was lost (dropped); the retry gets 400.
    scripted_server.reply(Reply(drop=True), Reply(400, {"code": "ORDER_INVALID_STATE", "message": "not in state"}))
    with pytest.raises(MiraklBadRequestError) as err:
        hook.accept_order("1001-A", ["1001-A-1"])
    assert err.value.has_code("ORDER_INVALID_STATE")
    assert err.value.after_ambiguous_attempt is True
    assert "earlier attempt may have been applied" in str(err.value)
    assert len(scripted_server.requests) == 2


def test_set_tracking_request(hook, scripted_server):
    scripted_server.reply(Reply(204))
    hook.set_tracking("1001-A", "CPCL", "7023210039414604")
    req = scripted_server.last
    assert (req.method, req.path) == ("PUT", "/api/orders/1001-A/tracking")
    assert_common_headers(req)
    assert req.json() == {"carrier_code": "CPCL", "tracking_number": "7023210039414604"}
    validate_mirakl("/api/orders/{order_id}/tracking", "PUT", 204, req.json(), kind="request")
    hook.set_tracking("1001-A", None, "99", carrier_name="Canada Post", carrier_url="https://cp/99")
    assert scripted_server.last.json() == {
        "carrier_name": "Canada Post",
        "carrier_url": "https://cp/99",
        "tracking_number": "99",
    }


def test_mark_shipped_sends_content_length_zero(hook, scripted_server):
    scripted_server.reply(Reply(204))
    hook.mark_shipped("1001-A")
    req = scripted_server.last
    assert (req.method, req.path, req.body) == ("PUT", "/api/orders/1001-A/ship", b"")
    assert req.header("Content-Length") == "0"
    assert_common_headers(req)


def test_mark_shipped_411_is_permanent(hook, scripted_server):
    scripted_server.reply(Reply(411, "Length Required"))
    with pytest.raises(MiraklBadRequestError.__mro__[1]) as err:  # MiraklPermanentError
        hook.mark_shipped("1001-A")
    assert err.value.status == 411


@pytest.mark.parametrize(
    ("status", "cls"),
    [(401, MiraklAuthenticationError), (404, MiraklNotFoundError), (400, MiraklBadRequestError)],
)
def test_permanent_errors_are_not_retried(hook, scripted_server, status, cls):
    scripted_server.reply(Reply(status, {"message": "nope", "status": status}, headers={"X-Request-Id": "rq-7"}))
    with pytest.raises(cls) as err:
        hook.set_tracking("1001-A", "CPCL", "1")
    assert err.value.request_id == "rq-7" and err.value.operation == "OR23"
    assert len(scripted_server.requests) == 1


# -- retries -------------------------------------------------------------------------------------------
def test_429_waits_at_least_retry_after_then_succeeds(hook, scripted_server):
    scripted_server.reply(Reply(429, {"message": "Too many requests"}, headers={"Retry-After": "3"}), Reply(204))
    hook.mark_shipped("1001-A")
    assert len(scripted_server.requests) == 2
    assert hook.sleeps[0] >= 3.0


def test_5xx_storm_then_success(hook, scripted_server):
    scripted_server.reply(Reply(500), Reply(502, "<html>bad gateway</html>"), Reply(503), Reply(200, fx.carriers()))
    assert len(hook.list_carriers()) == 2
    assert len(scripted_server.requests) == 4


def test_5xx_storm_gives_up_after_max_attempts(hook, scripted_server):
    scripted_server.reply(Reply(503, {"message": "down"}))
    with pytest.raises(MiraklServerError) as err:
        hook.list_carriers()
    assert err.value.status == 503
    assert len(scripted_server.requests) == FAST.max_attempts


def test_429_storm_gives_up_with_rate_limit_error(hook, scripted_server):
    scripted_server.reply(Reply(429, headers={"Retry-After": "0"}))
    with pytest.raises(MiraklRateLimitError) as err:
        hook.get_thread("t1")
    assert err.value.retry_after == 0.0


def test_hang_times_out_and_is_retried(conn_env, scripted_server):
    scripted_server.reply(Reply(200, fx.carriers(), delay=1.0), Reply(200, fx.carriers()))
    h = MiraklHook(retry_policy=FAST, timeout=(1.0, 0.3))
    started = time.monotonic()
    assert len(h.list_carriers()) == 2
    assert time.monotonic() - started < 1.0  # gave up on the hung answer
    assert len(scripted_server.requests) == 2


def test_hang_on_every_attempt_raises_timeout(conn_env, scripted_server):
    scripted_server.reply(Reply(200, fx.carriers(), delay=0.6))
    h = MiraklHook(retry_policy=RetryPolicy(max_attempts=2, initial_wait=0.01, max_wait=0.01), timeout=(1.0, 0.2))
    with pytest.raises(MiraklTimeoutError, match="read timeout"):
        h.list_carriers()


def test_connection_refused_is_retryable_and_bounded(monkeypatch):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens once closed
    monkeypatch.setenv(
        "AIRFLOW_CONN_MIRAKL_DEFAULT",
        json.dumps({"conn_type": "mirakl", "host": f"http://127.0.0.1:{port}", "password": fx.API_KEY}),
    )
    h = MiraklHook(retry_policy=RetryPolicy(max_attempts=2, initial_wait=0.01, max_wait=0.01))
    with pytest.raises(MiraklConnectionError) as err:
        h.list_carriers()
    assert err.value.may_have_been_applied is False


# -- inbox ---------------------------------------------------------------------------------------------
def test_list_threads_follows_page_tokens(hook, scripted_server):
    scripted_server.reply(
        Reply(200, fx.threads_page(["t1", "t2"], "tok-2")),
        Reply(200, fx.threads_page(["t3"], "tok-3")),
        Reply(200, fx.threads_page([])),
    )
    threads = hook.list_threads(updated_since=datetime(2026, 11, 20, tzinfo=UTC), entity_id="1001-A")
    assert [t["id"] for t in threads] == ["t1", "t2", "t3"]
    first, second, third = scripted_server.requests
    assert (first.method, first.path) == ("GET", "/api/inbox/threads")
    assert_common_headers(first)
    assert first.query == {
        "updated_since": ["2026-11-20T00:00:00Z"],
        "entity_type": ["MMP_ORDER"],
        "entity_id": ["1001-A"],
    }
    assert second.query["page_token"] == ["tok-2"] and third.query["page_token"] == ["tok-3"]


def test_list_threads_detects_a_token_loop(hook, scripted_server):
    scripted_server.reply(Reply(200, fx.threads_page(["t1"], "same")))
    with pytest.raises(MiraklResponseError, match="pagination loop"):
        hook.list_threads()


def test_get_thread(hook, scripted_server):
    scripted_server.reply(Reply(200, fx.thread("th-9")))
    thread = hook.get_thread("th-9")
    assert thread["id"] == "th-9" and thread["messages"]
    assert (scripted_server.last.method, scripted_server.last.path) == ("GET", "/api/inbox/threads/th-9")
    assert_common_headers(scripted_server.last)


def test_reply_to_thread_multipart(hook, scripted_server):
    scripted_server.reply(Reply(201, fx.message_created("th-9")))
    result = hook.reply_to_thread("th-9", "Your parcel is on its way.", "cust-1")
    assert result == fx.message_created("th-9")
    req = scripted_server.last
    assert (req.method, req.path) == ("POST", "/api/inbox/threads/th-9/message")
    assert_common_headers(req)
    assert req.header("Content-Type").startswith("multipart/form-data; boundary=")
    parts = req.multipart()
    assert list(parts) == ["message_input"]
    ctype, text = parts["message_input"]
    assert ctype == "application/json"
    body = json.loads(text)
    assert body == {"body": "Your parcel is on its way.", "to": [{"type": "CUSTOMER", "id": "cust-1"}]}
    validate_mirakl("/api/inbox/threads/{thread_id}/message", "POST", 201, {"message_input": body}, kind="request")


def test_create_order_thread_multipart(hook, scripted_server):
    scripted_server.reply(Reply(201, fx.message_created("th-new")))
    assert hook.create_order_thread("1001-A", "Your order is delayed by a day.", "Delay")["thread_id"] == "th-new"
    req = scripted_server.last
    assert (req.method, req.path) == ("POST", "/api/orders/1001-A/threads")
    ctype, text = req.multipart()["thread_input"]
    body = json.loads(text)
    assert ctype == "application/json"
    assert body == {
        "body": "Your order is delayed by a day.",
        "to": ["CUSTOMER"],
        "topic": {"type": "FREE_TEXT", "value": "Delay"},
    }
    validate_mirakl("/api/orders/{order_id}/threads", "POST", 201, {"thread_input": body}, kind="request")


def test_message_post_is_not_resent_after_an_ambiguous_failure(hook, scripted_server):
    scripted_server.reply(Reply(502), Reply(201, fx.message_created()))
    with pytest.raises(MiraklServerError) as err:
        hook.reply_to_thread("th-9", "Hello again", "cust-1")
    assert err.value.may_have_been_applied is True
    assert len(scripted_server.requests) == 1  # a duplicate message to a customer is worse than a retry later
    scripted_server.reply(Reply(drop=True), Reply(201, fx.message_created()))
    with pytest.raises(MiraklConnectionError):
        hook.create_order_thread("1001-A", "Hello again", "Topic")
    assert len(scripted_server.requests) == 2


def test_message_post_is_resent_after_429(hook, scripted_server):
    scripted_server.reply(Reply(429, headers={"Retry-After": "0.05"}), Reply(201, fx.message_created()))
    assert hook.reply_to_thread("th-9", "Hello again", "cust-1")["message_id"]
    assert len(scripted_server.requests) == 2


def test_message_post_malformed_answer(hook, scripted_server):
    scripted_server.reply(Reply(201, {"thread_id": "t"}))
    with pytest.raises(MiraklResponseError, match="'message_id' missing"):
        hook.reply_to_thread("th-9", "Hello again", "cust-1")


# -- secrecy -------------------------------------------------------------------------------------------
def test_no_api_key_or_address_in_logs_or_errors(hook, scripted_server, caplog):
    scripted_server.reply(
        Reply(500, {"message": "boom"}),
        Reply(200, fx.orders_page([fx.order("1-A", "SHIPPING")])),
        Reply(400, {"message": "bad", "status": 400}),
    )
    with caplog.at_level(logging.DEBUG):
        orders = hook.list_orders(order_ids=["1-A"])
        assert orders[0]["customer"]["shipping_address"]["street_1"] == fx.CUSTOMER_STREET
        with pytest.raises(MiraklBadRequestError) as err:
            hook.accept_order("1-A", ["1-A-1"])
    text = caplog.text + str(err.value) + repr(err.value)
    assert "1-A" in caplog.text  # ids are logged ...
    for secret in (fx.API_KEY, fx.CUSTOMER_STREET, fx.CUSTOMER_PHONE):
        assert secret not in text  # ... keys and addresses are not


def test_api_key_is_registered_with_the_secrets_masker(hook, scripted_server):
    from airflow.sdk._shared.secrets_masker import redact
    from airflow.sdk.log import mask_secret  # noqa: F401  (the API the hook uses)

    scripted_server.reply(Reply(200, fx.carriers()))
    hook.list_carriers()
    assert fx.API_KEY not in str(redact(f"key={fx.API_KEY}"))


def test_a_write_builder_that_does_not_say_idempotent_is_not_retried_after_an_ambiguous_failure(
    hook, scripted_server
):
    """Issue 12 item 8: a new write builder (say an OR29 cancel) that forgets ``idempotent`` is sent once."""
    from orderflow.hooks.mirakl_api import MiraklRequest

    req = MiraklRequest("OR29", "PUT", "/api/orders/{order_id}/cancel", "/api/orders/1001-A/cancel",
                        json_body={"order_lines": []}, expected_statuses=(204,))
    assert req.idempotent is False and req.safe_to_repeat is False
    for failure in (Reply(502), Reply(drop=True)):
        scripted_server.reply(failure, Reply(204))
        before = len(scripted_server.requests)
        with pytest.raises((MiraklServerError, MiraklConnectionError)):
            hook._call(req)
        assert len(scripted_server.requests) - before == 1
    # The builders that do say so (OR21/OR23/OR24 set a state to a value) and reads are retried.
    from orderflow.hooks import mirakl_api

    writes = [mirakl_api.build_accept_order("1001-A", ["1001-A-1"]),
              mirakl_api.build_set_tracking("1001-A", "CPCL", "1"), mirakl_api.build_mark_shipped("1001-A")]
    assert all(w.safe_to_repeat for w in writes)
    assert not mirakl_api.build_reply_to_thread("th-1", "Hello there", "c-1").safe_to_repeat
    scripted_server.reply(Reply(502), Reply(204))
    hook.mark_shipped("1001-A")
