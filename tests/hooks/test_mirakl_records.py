"""Mirakl OR11 orders -> typed records (orderflow.hooks.mirakl_records): every edge the store's former
parser (store/orders.py order_row_from_payload / line_rows_from_payload) validated, and the values it
defaulted."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from orderflow.hooks.mirakl_records import (
    MalformedOrder,
    MalformedReturn,
    MalformedThread,
    OrderRecord,
    ReturnRecord,
    order_from_payload,
    return_from_payload,
    thread_from_payload,
)
from tests.store.conftest import make_payload


def test_a_well_formed_order_is_typed():
    payload = make_payload(lines=2)
    payload["customer"]["shipping_address"] = {"city": "Ottawa", "state": "ON", "zip_code": "K1A0B1",
                                               "country_iso_code": "CAN"}
    payload["order_lines"][1].update(price_unit="12.50", order_line_state="SHIPPING")
    order = order_from_payload(payload)
    assert isinstance(order, OrderRecord)
    assert order.order_id == payload["order_id"] and order.mirakl_state == "WAITING_ACCEPTANCE"
    assert order.created_at.tzinfo is UTC and order.created_at.isoformat().endswith("+00:00")
    assert order.shipping_deadline is not None and order.last_updated_at == order.created_at
    assert (order.shipping_city, order.shipping_state, order.shipping_zip, order.shipping_country) == (
        "Ottawa", "ON", "K1A0B1", "CAN")
    assert order.price == Decimal("100.0") and order.shipping_price == Decimal("0")
    assert order.raw is payload
    assert [line.order_line_id for line in order.lines] == [f"{order.order_id}-1", f"{order.order_id}-2"]
    assert order.lines[1].price_unit == Decimal("12.50") and order.lines[1].state == "SHIPPING"
    assert order.lines[0].order_id == order.order_id and order.lines[0].raw is payload["order_lines"][0]


def test_defaults_the_former_parser_applied():
    payload = make_payload()
    del payload["currency_iso_code"], payload["last_updated_date"], payload["order_lines"][0]["order_line_index"]
    payload["customer"] = None
    payload["shipping_price"] = ""
    payload["order_lines"].append({"order_line_id": "L2", "quantity": 3})
    order = order_from_payload(payload)
    assert order.currency == "CAD"
    assert order.last_updated_at is None
    assert order.customer_id is None and order.shipping_address is None and order.shipping_city is None
    assert order.shipping_price is None  # "" is no amount
    assert [line.line_index for line in order.lines] == [1, 2]  # position when Mirakl gives none
    assert order.lines[1].price is None


def test_address_country_falls_back_and_an_empty_address_is_none():
    payload = make_payload()
    payload["customer"]["shipping_address"] = {"country": "CA"}
    assert order_from_payload(payload).shipping_country == "CA"
    payload["customer"]["shipping_address"] = {}
    assert order_from_payload(payload).shipping_address is None


def test_no_lines_is_an_order_without_lines():
    payload = make_payload()
    payload["order_lines"] = None
    assert order_from_payload(payload).lines == ()


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        (lambda p: p.pop("order_id"), "without an order_id"),
        (lambda p: p.update(order_id=""), "without an order_id"),
        (lambda p: p.update(order_id=1001), "without an order_id"),
        (lambda p: p.pop("created_date"), "without created_date"),
        (lambda p: p.update(created_date=""), "without created_date"),
        (lambda p: p.update(created_date="yesterday"), "created_date is not an ISO-8601 date"),
        (lambda p: p.update(created_date="2026-11-20T12:00:00"), "created_date has no time zone"),
        (lambda p: p.update(last_updated_date="2026-11-20"), "last_updated_date has no time zone"),
        (lambda p: p.update(shipping_deadline=20261122), "shipping_deadline is not a string"),
        (lambda p: p["order_lines"][0].update(quantity=0), "malformed order line"),
        (lambda p: p["order_lines"][0].update(quantity=-1), "malformed order line"),
        (lambda p: p["order_lines"][0].update(quantity="1"), "malformed order line"),
        (lambda p: p["order_lines"][0].pop("quantity"), "malformed order line"),
        (lambda p: p["order_lines"][0].pop("order_line_id"), "malformed order line"),
        (lambda p: p["order_lines"][0].update(order_line_id=""), "malformed order line"),
    ],
)
def test_what_the_former_parser_refused_is_refused(breakage, message):
    payload = make_payload()
    breakage(payload)
    with pytest.raises(MalformedOrder, match=message) as caught:
        order_from_payload(payload)
    assert str(caught.value).startswith("Mirakl order")
    assert isinstance(caught.value, ValueError)  # what ingest and refresh_from_mirakl catch


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        # The former parser crashed on these (InvalidOperation, AttributeError) or stored them (NaN).
        (lambda p: p.update(total_price="a lot"), "total_price is not an amount"),
        (lambda p: p.update(price=True), "price is not an amount"),
        (lambda p: p.update(price="NaN"), "price is not an amount"),
        (lambda p: p["order_lines"][0].update(price_unit="12,50"), "price_unit is not an amount"),
        (lambda p: p.update(customer="C1"), "customer is not an object"),
        (lambda p: p["customer"].update(shipping_address=["Ottawa"]), "shipping_address is not an object"),
        (lambda p: p.update(order_lines={"0": {}}), "order_lines is not a list"),
        (lambda p: p["order_lines"].append("L2"), "malformed order line"),
    ],
)
def test_a_payload_of_the_wrong_shape_is_reported_not_crashed_on(breakage, message):
    payload = make_payload()
    breakage(payload)
    with pytest.raises(MalformedOrder, match=message):
        order_from_payload(payload)


def test_a_payload_that_is_not_an_object_is_refused():
    with pytest.raises(MalformedOrder, match="not an object"):
        order_from_payload(["1001-A"])  # type: ignore[arg-type]  # what a broken answer may hold


def test_dates_keep_the_instant_in_utc():
    payload = make_payload()
    payload["created_date"] = "2026-11-20T07:00:00-05:00"
    assert order_from_payload(payload).created_at == datetime(2026, 11, 20, 12, tzinfo=UTC)


# -- threads (M10/M11), moved from store/messaging.py -------------------------------------------------
def _thread(**changes) -> dict:
    thread = {
        "id": "TH-1",
        "entities": [{"type": "MMP_ORDER", "id": "1001-A"}],
        "current_participants": [{"type": "SHOP", "id": "S1"}, {"type": "CUSTOMER", "id": 77, "display_name": "Jo"}],
        "topic": {"type": "FREE_TEXT", "value": "Where is my parcel?"},
        "date_created": "2026-11-20T12:00:00Z",
        "date_updated": "2026-11-20T13:00:00.250Z",
        "metadata": {"total_count": 2, "shop_reply_needed_since": "2026-11-20T13:00:00Z",
                     "last_message_date": "2026-11-20T12:30:00Z", "last_sender": {"type": "SHOP_USER"}},
        "messages": [
            {"id": "M1", "body": "<b>Hi</b> 📦", "date_created": "2026-11-20T12:00:00Z",
             "from": {"type": "CUSTOMER_USER", "display_name": "Jo"}},
            {"id": "M2", "body": "Still waiting", "date_created": "2026-11-20T13:00:00+00:00",
             "from": {"type": "CUSTOMER"}},
        ],
    }
    thread.update(changes)
    return thread


def test_a_thread_is_typed_and_its_newest_message_wins():
    t = thread_from_payload(_thread())
    assert (t.thread_id, t.order_id, t.customer_id, t.customer_name, t.topic) == (
        "TH-1", "1001-A", "77", "Jo", "Where is my parcel?")
    assert t.date_updated == datetime(2026, 11, 20, 13, 0, 0, 250000, tzinfo=UTC)
    assert t.reply_needed_since == datetime(2026, 11, 20, 13, tzinfo=UTC)
    # metadata says a shop message at 12:30, the messages carry a later customer one: that one counts
    assert t.last_message_at == datetime(2026, 11, 20, 13, tzinfo=UTC) and t.last_sender_type == "CUSTOMER"
    assert [m.sender_type for m in t.messages or ()] == ["CUSTOMER", "CUSTOMER"]
    assert t.messages is not None and t.messages[0].body == "<b>Hi</b> 📦"  # byte-exact
    assert "messages" not in t.raw and t.complete


def test_a_thread_without_messages_is_incomplete_and_dates_fall_back():
    payload = _thread(topic="Returns", current_participants=[],
                      authorized_participants=[{"type": "CUSTOMER", "id": "C9"}])
    del payload["messages"], payload["date_updated"]
    payload["metadata"] = {"total_count": 3}
    t = thread_from_payload(payload)
    assert t.messages is None and not t.complete
    assert t.topic == "Returns" and t.customer_id == "C9" and t.customer_name is None
    assert t.date_updated == datetime(2026, 11, 20, 12, tzinfo=UTC)  # date_created when never updated
    assert t.last_message_at is None and t.last_sender_type is None and t.reply_needed_since is None


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ([], "thread is not an object"),
        (_thread(id=""), "thread has no id"),
        (_thread(entities={"id": "1001-A"}), "entities is not a list"),
        (_thread(current_participants="Jo"), "current_participants is not a list"),
        (_thread(metadata=["x"]), "metadata is not an object"),
        (_thread(metadata={"total_count": -1}), "metadata.total_count is not a count"),
        (_thread(metadata={"total_count": True}), "metadata.total_count is not a count"),
        (_thread(metadata={"shop_reply_needed_since": "2026-11-20T13:00:00"}),
         "metadata.shop_reply_needed_since has no time zone"),
        (_thread(metadata={"last_sender": {"type": "ROBOT"}}), "metadata.last_sender: unknown sender type"),
        (_thread(messages={"id": "M1"}), "messages is not a list"),
        (_thread(messages=["hi"]), r"messages\[0\] is not an object"),
        (_thread(messages=[{"body": "hi"}]), r"messages\[0\] has no id"),
        (_thread(messages=[{"id": "M1", "body": None}]), "message M1 has no text body"),
        (_thread(messages=[{"id": "M1", "body": "hi"}]), r"message M1 has no sender \('from'\)"),
        (_thread(messages=[{"id": "M1", "body": "hi", "from": {"type": "BOT"}}]), "unknown sender type 'BOT'"),
        (_thread(messages=[{"id": "M1", "body": "hi", "from": {"type": "SHOP"}}]), "date_created is missing"),
        (_thread(messages=[{"id": "M1", "body": "hi", "from": {"type": "SHOP"}, "date_created": 5}]),
         "date_created is not a string"),
        (_thread(date_updated="soon", date_created=None), "date_updated is not an ISO-8601 date"),
        (_thread(date_updated=None, date_created=None), "date_updated is missing"),
    ],
)
def test_a_malformed_thread_names_the_thread_and_the_fault(payload, message):
    with pytest.raises(MalformedThread, match=message) as caught:
        thread_from_payload(payload)
    assert caught.value.thread_id == (None if not isinstance(payload, dict) or not payload.get("id") else "TH-1")


# -- returns (RT11) ------------------------------------------------------------------------------------
def _return(**changes):
    payload = {"id": "R-1", "order_id": "O-1-A", "order_commercial_id": "O-1", "state": "RECEIVED",
               "method_code": "RETURN_METHOD_BY_MAIL", "rma": "RMA1", "reason_code": "DAMAGED",
               "tracking": {"tracking_number": "7023210039414604"},
               "return_lines": [{"order_line_id": "O-1-A-1", "quantity": 1}],
               "date_created": "2026-11-20T12:00:00Z", "last_updated": "2026-11-21T12:00:00Z"}
    payload.update(changes)
    return payload


def test_a_return_is_typed_with_the_fields_the_store_read():
    payload = _return()
    record = return_from_payload(payload)
    assert isinstance(record, ReturnRecord)
    assert (record.return_id, record.order_id, record.commercial_id, record.state) == (
        "R-1", "O-1-A", "O-1", "RECEIVED")
    assert (record.method_code, record.rma, record.reason_code) == ("RETURN_METHOD_BY_MAIL", "RMA1", "DAMAGED")
    assert record.tracking_pin == "7023210039414604"
    assert record.return_lines == ({"order_line_id": "O-1-A-1", "quantity": 1},)
    assert (record.date_created, record.last_updated) == ("2026-11-20T12:00:00Z", "2026-11-21T12:00:00Z")
    assert record.raw is payload


@pytest.mark.parametrize("tracking", [None, {}, {"tracking_number": ""}, "", "7023", ["7023"]])
def test_a_return_without_tracking_has_no_pin(tracking):
    assert return_from_payload(_return(tracking=tracking)).tracking_pin is None


def test_optional_return_fields_may_be_missing():
    record = return_from_payload({"id": "R-1", "order_id": "O", "state": "CLOSED", "return_lines": []})
    assert (record.commercial_id, record.method_code, record.rma, record.tracking_pin) == (None,) * 4
    assert record.return_lines == () and record.last_updated is None


@pytest.mark.parametrize(("payload", "return_id", "message"), [
    ("R-1", None, "not an object"),
    ({"order_id": "O", "state": "RECEIVED", "return_lines": []}, None, "without an id"),
    (_return(id=""), None, "without an id"),
    (_return(id=7), None, "without an id"),
    (_return(order_id=None), "R-1", "return R-1 has no order_id or state"),
    (_return(state=3), "R-1", "return R-1 has no order_id or state"),
    (_return(return_lines=None), "R-1", "return R-1 has no return_lines"),
    (_return(return_lines={}), "R-1", "return R-1 has no return_lines"),
])
def test_a_malformed_return_names_the_return_and_the_fault(payload, return_id, message):
    with pytest.raises(MalformedReturn, match=message) as caught:
        return_from_payload(payload)
    assert caught.value.return_id == return_id
    assert isinstance(caught.value, ValueError)
