"""Template rendering: known placeholders filled, unknown ones and stray braces left visible."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from orderflow.templates import (
    KNOWN_PLACEHOLDERS,
    describe_order_status,
    order_context,
    placeholders,
    render,
    unknown_placeholders,
)

URL = "https://www.canadapost-postescanada.ca/track-reperage/en#/resultList?searchFor={pin}"
AUTO_ACK = (
    "Hello {customer_name},\n\nThank you for your message about order {order_id}. Its current status is: "
    "{order_status}. {tracking_sentence}\n\nA member of our team will answer you within one business day.\n\n"
    "{shop_name}"
)


def test_render_known_unknown_and_stray_braces() -> None:
    text = render("Hi {customer_name}, {unknown} {{7*7}} ${x} { order_id } {order_id}", {
        "customer_name": "Léa", "order_id": "A-1"})
    assert text == "Hi Léa, {unknown} {{7*7}} ${x} { order_id } A-1"


def test_values_are_inserted_literally() -> None:
    # A value that looks like a placeholder (or HTML) is not re-parsed or escaped: plain text.
    text = render("{customer_name} / {order_id}", {"customer_name": "{order_id}<b>", "order_id": "X"})
    assert text == "{order_id}<b> / X"
    assert render("{a}", {"a": None}) == ""
    assert render("", {"a": 1}) == ""


def test_placeholder_inspection() -> None:
    assert placeholders(AUTO_ACK) == {"customer_name", "order_id", "order_status", "tracking_sentence", "shop_name"}
    assert placeholders(AUTO_ACK) <= KNOWN_PLACEHOLDERS
    assert unknown_placeholders("Dear {custmer_name} {order_id}") == {"custmer_name"}


def test_order_context_shipped_with_tracking() -> None:
    ctx = order_context(
        customer_name="Olivia",
        order={"order_id": "252-A", "current_status": "shipped",
               "shipping_deadline": datetime(2026, 11, 26, tzinfo=UTC)},
        shipments=[{"tracking_pin": "1234567890123456", "status": "label_stored"}],
        shop_name="Shop",
        tracking_url_template=URL,
    )
    assert ctx["order_status"] == "shipped"
    assert ctx["tracking_number"] == "1234567890123456"
    assert ctx["tracking_url"].endswith("searchFor=1234567890123456")
    assert "1234567890123456" in ctx["tracking_sentence"] and ctx["tracking_url"] in ctx["tracking_sentence"]
    assert ctx["expected_ship_date"] == ""  # already shipped
    body = render(AUTO_ACK, ctx)
    assert "Hello Olivia," in body and "order 252-A" in body and "{" not in body


def test_order_context_waiting_gives_expected_ship_date_in_local_time() -> None:
    # 03:00 UTC on Nov 26 is still Nov 25 in Toronto.
    ctx = order_context(
        customer_name=None,
        order={"order_id": "9-B", "current_status": "accepted", "customer_firstname": "Félix",
               "shipping_deadline": datetime(2026, 11, 26, 3, 0, tzinfo=UTC)},
        shipments=[{"tracking_pin": "999", "status": "voided"}],
        shop_name="Shop",
        tracking_url_template=URL,
    )
    assert ctx["customer_name"] == "Félix"
    assert ctx["tracking_number"] == ""  # a voided label's PIN is not the customer's
    assert ctx["expected_ship_date"] == "November 25, 2026"
    assert ctx["tracking_sentence"] == "It is expected to ship by November 25, 2026."
    assert ctx["order_status"] == "confirmed and being prepared for shipping"


def test_order_context_without_order() -> None:
    ctx = order_context(customer_name="", order=None, shop_name="Shop", tracking_url_template=URL, order_id="Z-9")
    assert ctx["customer_name"] == "there"
    assert ctx["order_id"] == "Z-9"
    assert ctx["order_status"] == "being processed"
    assert ctx["tracking_sentence"] == ""


def test_internal_failures_are_not_told_to_customers() -> None:
    assert describe_order_status("label_failed") == "being processed"
    assert describe_order_status(None) == "being processed"


@given(st.text(), st.dictionaries(st.sampled_from(sorted(KNOWN_PLACEHOLDERS)), st.text()))
def test_render_never_crashes_and_keeps_text_without_placeholders(template: str, ctx: dict) -> None:
    out = render(template, ctx)
    assert isinstance(out, str)
    if not placeholders(template):
        assert out == template
