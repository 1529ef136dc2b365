"""Pure Mirakl request builders, response parsers and error parsing (no I/O)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from airflow.sdk.exceptions import AirflowFailException

from orderflow.hooks import mirakl_api as api
from orderflow.hooks import mirakl_errors as errors
from sandbox.openapi import OpenAPIValidationError, validate_mirakl
from tests.hooks import _mirakl_fixtures as fx


# -- builders ------------------------------------------------------------------------------------------
def test_or11_poll_request():
    req = api.build_list_orders(
        states=["WAITING_ACCEPTANCE", "SHIPPING"],
        updated_since=datetime(2026, 11, 20, 10, 0, tzinfo=UTC),
        updated_until=datetime(2026, 11, 20, 11, 0, 0, 250_000, tzinfo=UTC),
        offset=200,
    )
    assert (req.operation, req.method, req.path) == ("OR11", "GET", "/api/orders")
    assert req.query() == {
        "order_state_codes": "WAITING_ACCEPTANCE,SHIPPING",
        "start_update_date": "2026-11-20T10:00:00Z",
        "end_update_date": "2026-11-20T11:00:00.250Z",
        "paginate": "true",
        "max": "100",
        "offset": "200",
        "sort": "dateCreated",
        "order": "asc",
    }
    assert not req.has_json_body and req.safe_to_repeat


def test_or11_lookup_request_and_chunk_bounds():
    req = api.build_list_orders(order_ids=["1-A", "2-A"])
    assert req.query()["order_ids"] == "1-A,2-A"
    with pytest.raises(errors.MiraklValidationError):
        api.build_list_orders(order_ids=[f"{i}-A" for i in range(101)])
    with pytest.raises(errors.MiraklValidationError):
        api.build_list_orders(order_ids=[])
    with pytest.raises(errors.MiraklValidationError, match="invalid order id"):
        api.build_list_orders(order_ids=["1-A,2-A"])  # a comma would smuggle a second id


def test_or11_rejects_unknown_state_and_naive_datetime():
    with pytest.raises(errors.MiraklValidationError, match="unknown Mirakl order state"):
        api.build_list_orders(states=["SHIPPED_TWICE"])
    with pytest.raises(errors.MiraklValidationError, match="timezone-aware"):
        api.build_list_orders(updated_since=datetime(2026, 1, 1))


def test_format_datetime_converts_to_utc():
    eastern = timezone(timedelta(hours=-5))
    assert api.format_datetime(datetime(2026, 11, 20, 5, 0, tzinfo=eastern)) == "2026-11-20T10:00:00Z"


def test_or21_body_validates_against_openapi():
    req = api.build_accept_order("1001-A", ["1001-A-1", "1001-A-2"])
    assert (req.method, req.path, req.expected_statuses) == ("PUT", "/api/orders/1001-A/accept", (204, 200))
    assert req.json_body == {
        "order_lines": [{"accepted": True, "id": "1001-A-1"}, {"accepted": True, "id": "1001-A-2"}]
    }
    validate_mirakl(req.path_template, "PUT", 204, req.json_body, kind="request")
    refuse = api.build_accept_order("1001-A", ["1001-A-1"], accepted=False)
    assert refuse.json_body["order_lines"][0]["accepted"] is False


@pytest.mark.parametrize("lines", [[], ["a", "a"], [""], "1001-A-1"])
def test_or21_refuses_bad_line_lists(lines):
    with pytest.raises(errors.MiraklValidationError):
        api.build_accept_order("1001-A", lines)


def test_path_ids_are_url_encoded():
    assert api.build_mark_shipped("a/b c").path == "/api/orders/a%2Fb%20c/ship"
    assert api.build_get_thread("t?x").path == "/api/inbox/threads/t%3Fx"
    with pytest.raises(errors.MiraklValidationError):
        api.build_mark_shipped("")


def test_or23_registered_and_unregistered_carrier():
    reg = api.build_set_tracking("1001-A", "CPCL", "7023210039414604")
    assert reg.path == "/api/orders/1001-A/tracking"
    assert reg.json_body == {"carrier_code": "CPCL", "tracking_number": "7023210039414604"}
    validate_mirakl(reg.path_template, "PUT", 204, reg.json_body, kind="request")
    unreg = api.build_set_tracking("1001-A", None, "123", carrier_name="Local", carrier_url="https://x/123")
    assert unreg.json_body == {"carrier_name": "Local", "carrier_url": "https://x/123", "tracking_number": "123"}
    validate_mirakl(unreg.path_template, "PUT", 204, unreg.json_body, kind="request")
    with pytest.raises(errors.MiraklValidationError):
        api.build_set_tracking("1001-A", None, "123")
    with pytest.raises(errors.MiraklValidationError):
        api.build_set_tracking("1001-A", "CPCL", "")


def test_or24_has_no_body():
    req = api.build_mark_shipped("1001-A")
    assert (req.method, req.path, req.has_json_body, req.multipart) == ("PUT", "/api/orders/1001-A/ship", False, None)


def test_m11_request_params():
    req = api.build_list_threads(
        updated_since=datetime(2026, 11, 20, tzinfo=UTC),
        entity_ids=["1-A", "2-A"],
        page_token="tok",
        with_messages=True,
    )
    assert req.query() == {
        "entity_type": "MMP_ORDER",
        "entity_id": "1-A,2-A",
        "updated_since": "2026-11-20T00:00:00Z",
        "with_messages": "true",
        "page_token": "tok",
    }
    assert api.build_list_threads().query() == {}


def test_m12_multipart_part_validates():
    req = api.build_reply_to_thread("th-1", "Your order shipped today.", "cust-9")
    assert (req.method, req.path, req.idempotent) == ("POST", "/api/inbox/threads/th-1/message", False)
    ((name, text),) = req.multipart
    assert name == "message_input"
    part = json.loads(text)
    assert part == {"body": "Your order shipped today.", "to": [{"type": "CUSTOMER", "id": "cust-9"}]}
    validate_mirakl(req.path_template, "POST", 201, {"message_input": part}, kind="request")


def test_or43_multipart_part_validates():
    req = api.build_create_order_thread("1001-A", "We shipped your order.", "Shipping update")
    ((name, text),) = req.multipart
    assert name == "thread_input" and req.path == "/api/orders/1001-A/threads"
    part = json.loads(text)
    assert part == {
        "body": "We shipped your order.",
        "to": ["CUSTOMER"],
        "topic": {"type": "FREE_TEXT", "value": "Shipping update"},
    }
    validate_mirakl(req.path_template, "POST", 201, {"thread_input": part}, kind="request")
    coded = api.build_create_order_thread("1001-A", "Hello there", {"type": "REASON_CODE", "value": "DELAY"})
    assert json.loads(coded.multipart[0][1])["topic"] == {"type": "REASON_CODE", "value": "DELAY"}


@pytest.mark.parametrize("body", ["hi", "x" * 50_001])
def test_message_body_length_is_checked_before_sending(body):
    with pytest.raises(errors.MiraklValidationError, match=r"3\.\.50000"):
        api.build_reply_to_thread("th-1", body, "cust-9")


def test_our_validator_really_rejects_bad_bodies():
    # The contract checks above are only worth something if the validator can say no.
    with pytest.raises(OpenAPIValidationError):
        validate_mirakl("/api/orders/{order_id}/accept", "PUT", 204, {"order_lines": [{"id": "x"}]}, kind="request")


# -- parsers -------------------------------------------------------------------------------------------
def test_parse_orders_page():
    body = fx.orders_page([fx.order("1-A"), fx.order("2-A", "SHIPPING")], total_count=7)
    page = api.parse_orders_page(200, json.dumps(body))
    assert [o["order_id"] for o in page.orders] == ["1-A", "2-A"]
    assert page.total_count == 7


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "empty body"),
        ("<html>oops</html>", "not JSON"),
        ('{"orders": [', "not JSON"),
        ("[]", "expected an object"),
        ('{"total_count": 0}', "'orders' list missing"),
        ('{"orders": {}, "total_count": 0}', "'orders' list missing"),
        ('{"orders": []}', "total_count"),
        ('{"orders": [], "total_count": "3"}', "total_count"),
        ('{"orders": [1], "total_count": 1}', "is not an object"),
        ('{"orders": [{"order_state": "SHIPPING"}], "total_count": 1}', "has no order_id"),
        ('{"orders": [{"order_id": "1-A"}], "total_count": 1}', "has no order_state"),
    ],
)
def test_malformed_orders_page_raises_clear_error(text, why):
    with pytest.raises(errors.MiraklResponseError, match=why) as err:
        api.parse_orders_page(200, text, request_id="rq-1")
    assert err.value.operation == "OR11" and err.value.request_id == "rq-1"
    assert "malformed response body" in str(err.value)
    assert not isinstance(err.value, AirflowFailException | errors.MiraklRetryableError)


def test_parse_carriers_threads_thread_created():
    assert [c["code"] for c in api.parse_carriers(200, json.dumps(fx.carriers()))] == ["CPCL", "PRLA"]
    page = api.parse_threads_page(200, json.dumps(fx.threads_page(["t1", "t2"], "next")))
    assert [t["id"] for t in page.threads] == ["t1", "t2"] and page.next_page_token == "next"
    assert api.parse_threads_page(200, json.dumps(fx.threads_page(["t3"]))).next_page_token is None
    assert api.parse_thread(200, json.dumps(fx.thread("t9")))["id"] == "t9"
    assert api.parse_message_created("M12", 201, json.dumps(fx.message_created("t9")))["thread_id"] == "t9"
    with pytest.raises(errors.MiraklResponseError, match="'carriers' list missing"):
        api.parse_carriers(200, "{}")
    with pytest.raises(errors.MiraklResponseError, match="'data' list missing"):
        api.parse_threads_page(200, '{"next_page_token": "x"}')
    with pytest.raises(errors.MiraklResponseError, match="no thread id"):
        api.parse_thread(200, '{"messages": []}')
    with pytest.raises(errors.MiraklResponseError, match="'message_id' missing"):
        api.parse_message_created("OR43", 201, '{"thread_id": "t"}')


# -- errors --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, errors.MiraklBadRequestError),
        (401, errors.MiraklAuthenticationError),
        (403, errors.MiraklPermissionError),
        (404, errors.MiraklNotFoundError),
        (405, errors.MiraklPermanentError),
        (408, errors.MiraklRetryableError),
        (411, errors.MiraklPermanentError),
        (418, errors.MiraklPermanentError),
        (429, errors.MiraklRateLimitError),
        (500, errors.MiraklServerError),
        (502, errors.MiraklServerError),
        (503, errors.MiraklServerError),
        (302, errors.MiraklResponseError),
    ],
)
def test_status_to_exception_table(status, cls):
    err = errors.error_from_response("OR21", status, "")
    assert type(err) is cls
    assert err.status == status


def test_permanent_errors_fail_the_task_and_retryable_ones_do_not():
    assert issubclass(errors.MiraklPermanentError, AirflowFailException)
    assert not issubclass(errors.MiraklRetryableError, AirflowFailException)
    assert issubclass(errors.MiraklValidationError, ValueError)


def test_error_message_and_status_body():
    err = errors.error_from_response(
        "OR21", 400, '{"message": "Order is not in the expected state", "status": 400}', {"X-Request-Id": "rq-42"}
    )
    assert err.server_message == "Order is not in the expected state"
    assert err.request_id == "rq-42"
    assert err.codes == ()
    # The server's words are kept on the exception, not in str() (issue 16 item 3).
    assert str(err) == "Mirakl OR21 HTTP 400: Bad Request (request id rq-42)"


@pytest.mark.parametrize(
    "body",
    [
        {"message": "ORDER_INVALID_STATE: order 1001-A is SHIPPING", "status": 400},
        {"code": "ORDER_INVALID_STATE", "message": "Order is not in the expected state"},
        {"errors": [{"code": "ORDER_INVALID_STATE", "message": "not in the expected state"}]},
        [{"error_code": "ORDER_INVALID_STATE"}],
    ],
)
def test_error_codes_are_found_in_each_plausible_placement(body):
    err = errors.error_from_response("OR21", 400, json.dumps(body))
    assert err.code == "ORDER_INVALID_STATE"
    assert err.has_code("ORDER_INVALID_STATE")


def test_several_codes_and_no_made_up_codes():
    body = {
        "errors": [
            {"code": "ORDER_LINE_NOT_FOUND", "message": "line x"},
            {"code": "VALIDATION_ERROR", "message": "bad"},
        ]
    }
    codes = errors.error_from_response("OR21", 400, json.dumps(body)).codes
    assert codes == ("ORDER_LINE_NOT_FOUND", "VALIDATION_ERROR")
    # Free text is scanned for documented codes only: "SOME_RANDOM_WORDS" in a sentence is not a code.
    prose = {"message": "Please check SOME_RANDOM_WORDS and retry"}
    assert errors.error_from_response("OR21", 400, json.dumps(prose)).codes == ()
    # A lower-case "code" (e.g. an HTTP reason) is not an API code either.
    assert errors.error_from_response("OR21", 400, '{"code": "bad request"}').codes == ()


def test_non_json_error_body_is_kept_short():
    err = errors.error_from_response("OR11", 502, "<html>" + "x" * 5000 + "</html>")
    assert isinstance(err, errors.MiraklServerError)
    assert err.message == "Bad Gateway (not a JSON error answer)" and "x" not in str(err)
    assert len(err.server_message) == 200
    assert err.body.startswith("<html>")


# -- issue 16 item 3: no server free text (customer text) in str() ---------------------------------------
CUSTOMER_TEXT = "Hello Jordan Tremblay, 123 Secret Street, your parcel"


@pytest.mark.parametrize(
    "text",
    [
        json.dumps({"message": f"Invalid message body: {CUSTOMER_TEXT}", "status": 400}),
        json.dumps({"errors": [{"code": "VALIDATION_ERROR", "message": f"body '{CUSTOMER_TEXT}' refused"}]}),
        json.dumps([{"error_code": "VALIDATION_ERROR", "description": CUSTOMER_TEXT}]),
        f"<html><body><h1>502 Bad Gateway</h1><p>{CUSTOMER_TEXT}</p></body></html>",
    ],
)
@pytest.mark.parametrize("status", [400, 502])
def test_str_of_an_error_carries_status_codes_and_request_id_never_the_server_text(text, status):
    err = errors.error_from_response("M12", status, text, {"X-Request-Id": "rq-77"})
    for rendered in (str(err), repr(err), err.args[0] if err.args else ""):
        assert "Jordan" not in rendered and "Secret Street" not in rendered
    assert f"HTTP {status}" in str(err) and "M12" in str(err) and "rq-77" in str(err)
    if text.startswith("{") or text.startswith("["):
        assert "VALIDATION_ERROR" in str(err) or "Invalid message body" not in str(err)
    # The server's words stay available to a person debugging in a shell.
    assert CUSTOMER_TEXT in err.body
    assert CUSTOMER_TEXT in (err.server_message or "")


def test_a_body_json_refuses_with_a_plain_value_error_is_a_response_error():
    # json.loads raises a bare ValueError (not JSONDecodeError) for an integer over 4,300 digits.
    with pytest.raises(errors.MiraklResponseError, match="not JSON"):
        api.parse_json("OR11", 200, "[" + "9" * 5000 + "]")
