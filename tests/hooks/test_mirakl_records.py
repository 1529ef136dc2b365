"""Mirakl OR11 orders -> typed records (orderflow.hooks.mirakl_records): every edge the store's former
parser (store/orders.py order_row_from_payload / line_rows_from_payload) validated, and the values it
defaulted."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from orderflow.hooks.mirakl_records import MalformedOrder, OrderRecord, order_from_payload
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
