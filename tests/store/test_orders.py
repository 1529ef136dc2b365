from __future__ import annotations

import pytest

from orderflow.hooks.mirakl_records import order_from_payload
from tests.store.conftest import make_payload


def test_upsert_is_idempotent_and_keeps_a_known_address(store):
    payload = make_payload()
    first = store.upsert_orders([order_from_payload(payload)])
    assert first[0].inserted is True
    payload["customer"]["shipping_address"] = {"city": "Ottawa", "zip_code": "K1A0B1", "state": "ON"}
    payload["order_state"] = "SHIPPING"
    second = store.upsert_orders([order_from_payload(payload)])
    assert second[0].inserted is False
    payload["customer"]["shipping_address"] = None  # Best Buy may hide it again later
    store.upsert_orders([order_from_payload(payload)])
    order = store.get_order(payload["order_id"])
    assert order["shipping_city"] == "Ottawa"
    assert order["mirakl_state"] == "SHIPPING"
    assert [line["order_line_id"] for line in order["lines"]] == [f"{payload['order_id']}-1"]


@pytest.mark.parametrize(
    "breakage",
    [
        lambda p: p.pop("order_id"),
        lambda p: p.pop("created_date"),
        lambda p: p["order_lines"][0].update(quantity=0),
        lambda p: p["order_lines"][0].pop("order_line_id"),
    ],
)
def test_malformed_payload_is_refused_and_nothing_is_written(store, breakage):
    good = make_payload()
    bad = make_payload()
    breakage(bad)
    with pytest.raises(ValueError, match="Mirakl order"):
        store.upsert_orders([order_from_payload(p) for p in (good, bad)])
    assert store.get_order(good["order_id"]) is None


def test_a_raw_payload_is_refused_and_nothing_is_written(store):
    # The store saves typed records only; parsing is order_from_payload's (issue 17).
    good = make_payload()
    with pytest.raises(TypeError, match="order_from_payload"):
        store.upsert_orders([order_from_payload(good), make_payload()])
    assert store.get_order(good["order_id"]) is None


def test_shipment_intent_is_idempotent(store, new_order):
    order_id = new_order()
    store.record_transition(order_id, "accepted")
    crid = f"{order_id}-1"
    first = store.create_shipment_intent(order_id=order_id, package_no=1, customer_request_id=crid)
    again = store.create_shipment_intent(order_id=order_id, package_no=1, customer_request_id=crid)
    assert first["inserted"] is True and again["inserted"] is False
    assert first["id"] == again["id"]
    created = store.mark_shipment_created(crid, shipment_id="S1", tracking_pin="PIN1", links={"label": "x"}, price=12.5)
    assert created["status"] == "created"
    # a created shipment is money spent: it can no longer be marked failed
    assert store.mark_shipment_failed(crid, error={"code": "x"}) is None
    assert store.find_order_by_code("PIN1") == order_id
    assert store.find_order_by_code(order_id) == order_id
    assert store.find_order_by_code("'; DROP TABLE orders; --") is None


def test_only_live_shipments_of_canceled_orders_are_void_candidates_and_can_be_settled(store, new_order):
    def shipment(order_id: str, n: int) -> dict:
        crid = f"{order_id}-1"
        store.create_shipment_intent(order_id=order_id, package_no=1, customer_request_id=crid)
        return store.mark_shipment_created(crid, shipment_id=f"S{n}", tracking_pin=f"PIN{n}", links={}, price=10)

    canceled, live = new_order("accepted"), new_order("accepted")
    rows = {oid: shipment(oid, n) for n, oid in enumerate((canceled, live))}
    store.record_transition(canceled, "canceled")
    assert [r["order_id"] for r in store.void_candidates(run_id="r1")] == [canceled]
    # The database refuses to settle the shipment of an order that is not canceled.
    assert store.mark_shipment_voided(rows[live]["id"], detail={"how": "test"}) is None
    assert store.mark_shipment_refund_requested(rows[live]["id"], refund_ticket_id="T", detail={}) is None
    assert store.shipments_for_order(live)[0]["status"] == "created"

    # A permanent failure of run r1 hides the shipment from other runs, not from r1's re-try.
    failed = store.mark_shipment_void_failed(rows[canceled]["id"], error={"step": "void_labels", "run_id": "r1"})
    assert failed["status"] == "created"
    assert store.void_candidates(run_id="r2") == []
    assert [r["id"] for r in store.void_candidates(run_id="r1")] == [rows[canceled]["id"]]

    refunded = store.mark_shipment_refund_requested(rows[canceled]["id"], refund_ticket_id="GT1", detail={"how": "t"})
    assert refunded["status"] == "refund_requested" and refunded["refund_ticket_id"] == "GT1"
    assert refunded["error"] is None and refunded["void_detail"] == {"how": "t"}
    assert store.void_candidates(run_id="r1") == []
    # Settled once: neither a void nor a second refund can be recorded over it.
    assert store.mark_shipment_voided(rows[canceled]["id"], detail={}) is None


def test_watermarks_only_move_forward(store):
    from datetime import UTC, datetime

    late = datetime(2026, 11, 24, 12, tzinfo=UTC)
    early = datetime(2026, 11, 1, tzinfo=UTC)
    store.set_watermark("w", late)
    store.set_watermark("w", early)
    assert store.get_watermark("w") == late


@pytest.mark.parametrize("field", ["created_date", "last_updated_date", "shipping_deadline"])
def test_an_order_date_without_a_time_zone_is_refused(store, field):
    # Behaviour change (issue 17, one date parser): the store's own parser accepted a naive date and
    # stored it in the database session's zone; Mirakl's OpenAPI says date-time (RFC 3339: a zone).
    good = make_payload()
    bad = make_payload()
    bad[field] = "2026-11-20T12:00:00"
    with pytest.raises(ValueError, match="has no time zone"):
        store.upsert_orders([order_from_payload(p) for p in (good, bad)])
    assert store.get_order(good["order_id"]) is None
