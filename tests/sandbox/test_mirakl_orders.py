"""Mirakl sandbox, orders side: OR11, OR21, OR23, OR24, OR29, SH21 against the OpenAPI and the sheet."""

from __future__ import annotations

import time

import pytest

from sandbox.openapi import validate_mirakl
from sandbox.testing import running_sandbox
from tests.sandbox.conftest import MiraklClient, shipping_order


def _error_code(resp) -> str:
    return resp.json()["errors"][0]["code"]


# -- authentication ------------------------------------------------------------------------------


def test_requests_without_or_with_a_wrong_key_get_401(sandbox, client):
    url = sandbox.mirakl_url + "/api/orders"
    assert client.session.get(url, headers={"Authorization": ""}).status_code == 401
    assert client.session.get(url, headers={"Authorization": "wrong"}).status_code == 401
    bearer = client.session.get(url, headers={"Authorization": f"Bearer {sandbox.mirakl_api_key}"})
    assert bearer.status_code == 401  # the raw key, no Bearer
    assert client.get("/api/orders").status_code == 200


def test_shop_id_is_accepted_and_a_foreign_shop_refused(sandbox, client):
    assert client.get("/api/orders", shop_id=sandbox.shop_id).status_code == 200
    assert client.get("/api/orders", shop_id=sandbox.shop_id + 1).status_code == 403
    assert client.get("/api/orders", shop_id="abc").status_code == 400


def test_unknown_path_is_404_and_wrong_method_405(client):
    assert client.get("/api/nothing").status_code == 404
    assert client.session.delete(client.base + "/api/orders").status_code == 405


# -- OR11 ----------------------------------------------------------------------------------------


def test_or11_response_matches_openapi_in_every_state(sandbox, client):
    orders = client.orders(max=100)
    assert len(orders) == 5
    client.accept(orders[0])  # -> WAITING_DEBIT_PAYMENT
    client.accept(orders[1], accepted=False)  # -> REFUSED
    client.accept(orders[2])
    sandbox.advance(1)  # orders[2] -> SHIPPING
    assert client.put(f"/api/orders/{orders[2]['order_id']}/tracking",
                      {"carrier_code": "CPCL", "tracking_number": "7023210039414604"}).status_code == 204
    assert client.put(f"/api/orders/{orders[2]['order_id']}/ship").status_code == 204
    resp = client.get("/api/orders", max=100)
    validate_mirakl("/api/orders", "GET", 200, resp.json())
    states = {o["order_id"]: o["order_state"] for o in resp.json()["orders"]}
    assert sorted(states.values()) == ["REFUSED", "SHIPPED", "SHIPPING", "WAITING_ACCEPTANCE", "WAITING_ACCEPTANCE"]
    assert resp.headers["Content-Type"].startswith("application/json")


def test_or11_order_fields_are_realistic(client):
    order = client.orders()[0]
    assert order["order_id"] == f"{order['commercial_id']}-A"
    assert order["order_state"] == "WAITING_ACCEPTANCE"
    assert order["customer"]["shipping_address"] is None  # hidden until the debit
    assert order["acceptance_decision_date"] is None
    assert order["customer_debited_date"] is None
    assert order["currency_iso_code"] == "CAD"
    assert order["shipping_deadline"].endswith("Z") and order["leadtime_to_ship"] >= 1
    assert 1 <= len(order["order_lines"]) <= 5
    for index, line in enumerate(order["order_lines"], start=1):
        assert line["order_line_id"] == f"{order['order_id']}-{index}"
        assert 1 <= line["quantity"] <= 5
        assert line["price"] == pytest.approx(line["price_unit"] * line["quantity"])
        assert line["order_line_state"] == "WAITING_ACCEPTANCE"
    assert order["price"] == pytest.approx(sum(line["price"] for line in order["order_lines"]))


def test_or11_filters_and_pagination(sandbox, client):
    everything = client.get("/api/orders", paginate="false").json()
    assert everything["total_count"] == 5 and len(everything["orders"]) == 5
    created = [o["created_date"] for o in everything["orders"]]
    assert created == sorted(created)  # dateCreated ascending by default

    page1 = client.get("/api/orders", max=2, offset=0).json()
    page3 = client.get("/api/orders", max=2, offset=4).json()
    assert page1["total_count"] == 5 and len(page1["orders"]) == 2 and len(page3["orders"]) == 1
    desc = client.get("/api/orders", max=5, order="desc").json()["orders"]
    assert [o["order_id"] for o in desc] == [o["order_id"] for o in reversed(everything["orders"])]

    ids = [o["order_id"] for o in everything["orders"]]
    picked = client.orders(order_ids=",".join(ids[1:3]))
    assert {o["order_id"] for o in picked} == set(ids[1:3])

    client.accept(everything["orders"][0])
    waiting = client.orders(order_state_codes="WAITING_ACCEPTANCE", max=100)
    assert len(waiting) == 4
    assert len(client.orders(order_state_codes="WAITING_ACCEPTANCE,WAITING_DEBIT_PAYMENT", max=100)) == 5

    # start_date is on the creation date: the last order only.
    assert [o["order_id"] for o in client.orders(start_date=everything["orders"][-1]["created_date"])] == ids[-1:]


def test_or11_update_date_polling_sees_transitions(sandbox, client):
    order = client.orders()[0]
    time.sleep(1.1)  # dates have second precision
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 1))
    sandbox.mirakl.configure(update_date_safety=0)
    assert client.orders(start_update_date=since) == []
    sandbox.advance(2)
    client.accept(order)
    updated = client.orders(start_update_date=since)
    assert [o["order_id"] for o in updated] == [order["order_id"]]


def test_or11_rejects_over_100_ids_over_100_max_and_bad_values(client):
    ids = ",".join(f"{n}-A" for n in range(101))
    resp = client.get("/api/orders", order_ids=ids)
    assert resp.status_code == 400 and "100" in resp.json()["message"]
    assert client.get("/api/orders", order_ids=",".join(f"{n}-A" for n in range(100))).status_code == 200
    assert client.get("/api/orders", max=101).status_code == 400
    assert client.get("/api/orders", order_state_codes="NOPE").status_code == 400
    assert client.get("/api/orders", start_update_date="yesterday").status_code == 400
    assert client.get("/api/orders", sort="price").status_code == 400


# -- OR21 and the asynchronous debit -------------------------------------------------------------


def test_acceptance_is_asynchronous(sandbox, client):
    order = client.orders()[0]
    resp = client.accept(order)
    assert resp.status_code == 204 and resp.content == b""
    validate_mirakl("/api/orders/{order_id}/accept", "PUT", 204, None)
    pending = client.order(order["order_id"])
    assert pending["order_state"] == "WAITING_DEBIT_PAYMENT"
    assert pending["acceptance_decision_date"] is not None
    assert pending["customer"]["shipping_address"] is None
    assert {line["order_line_state"] for line in pending["order_lines"]} == {"WAITING_DEBIT_PAYMENT"}

    time.sleep(0.3)  # debit_delay is 0.2 s here: time alone moves it
    shipped = client.order(order["order_id"])
    assert shipped["order_state"] == "SHIPPING"
    assert shipped["customer_debited_date"] is not None
    address = shipped["customer"]["shipping_address"]
    assert address["country_iso_code"] == "CAN" and address["zip_code"]
    assert shipped["can_shop_ship"] is True


def test_advance_makes_a_long_debit_happen_now():
    with running_sandbox(orders=1, debit_delay=3600, with_canadapost=False) as sb:
        client = MiraklClient(sb)
        order = client.orders()[0]
        client.accept(order)
        assert client.order(order["order_id"])["order_state"] == "WAITING_DEBIT_PAYMENT"
        sb.advance(3599)
        assert client.order(order["order_id"])["order_state"] == "WAITING_DEBIT_PAYMENT"
        sb.advance(2)
        assert client.order(order["order_id"])["order_state"] == "SHIPPING"


def test_payment_refused_and_customer_cancel_shares():
    with running_sandbox(orders=40, seed=3, payment_refused_rate=0.3, cancel_rate=0.2,
                         with_canadapost=False) as sb:
        client = MiraklClient(sb)
        for order in client.orders(max=100):
            assert client.accept(order).status_code == 204
        sb.advance(1)
        orders = client.orders(max=100)
        reasons = [o["order_state_reason_code"] for o in orders if o["order_state"] == "CANCELED"]
        shipping = [o for o in orders if o["order_state"] == "SHIPPING"]
        assert "PAYMENT_REFUSED" in reasons and "CUSTOMER_CANCELED" in reasons
        assert shipping and len(reasons) + len(shipping) == 40
        validate_mirakl("/api/orders", "GET", 200, {"orders": orders, "total_count": 40})
        for order in orders:
            if order["order_state"] == "CANCELED":
                assert order["customer"]["shipping_address"] is None


def test_refusing_every_line_refuses_the_order(client):
    order = client.orders()[0]
    assert client.accept(order, accepted=False).status_code == 204
    refused = client.order(order["order_id"])
    assert refused["order_state"] == "REFUSED"
    assert {line["order_line_state"] for line in refused["order_lines"]} == {"REFUSED"}


def test_or21_error_codes(sandbox, client):
    sandbox.generate_orders(1, lines=[("LAP-AUR14-BNDL", 1), ("AUD-TWS-200", 2)])
    order = client.orders(order_state_codes="WAITING_ACCEPTANCE", max=100)[-1]
    path = f"/api/orders/{order['order_id']}/accept"
    first, second = (line["order_line_id"] for line in order["order_lines"])

    resp = client.put("/api/orders/999-A/accept", {"order_lines": [{"id": "999-A-1", "accepted": True}]})
    assert resp.status_code == 404 and _error_code(resp) == "ORDER_NOT_FOUND"
    resp = client.put(path, {"order_lines": [{"id": first, "accepted": True}]})
    assert resp.status_code == 400 and _error_code(resp) == "ORDER_LINE_ACCEPTANCE_DECISION_MISSING"
    resp = client.put(path, {"order_lines": [{"id": first, "accepted": True}, {"id": "nope", "accepted": True}]})
    assert resp.status_code == 400 and _error_code(resp) == "ORDER_LINE_NOT_FOUND"
    resp = client.put(path, {"order_lines": [{"id": first, "accepted": True}, {"id": first, "accepted": True}]})
    assert resp.status_code == 400 and _error_code(resp) == "ORDER_LINE_DUPLICATE_ID"
    resp = client.put(path, {"order_lines": [{"id": first, "accepted": True}, None]})
    assert resp.status_code == 400 and _error_code(resp) == "ORDER_LINE_NULL_ELEMENT"
    resp = client.put(path, {"order_lines": [{"id": first, "accepted": True}, {"id": second, "accepted": False}]})
    assert resp.status_code == 400 and _error_code(resp) == "ORDER_PARTIAL_ACCEPTANCE_DISABLED"
    resp = client.put(path, {"lines": []})
    assert resp.status_code == 400 and _error_code(resp) == "VALIDATION_ERROR"
    resp = client.put(path, data=b"{not json", headers={"Content-Type": "application/json"})
    assert resp.status_code == 400
    resp = client.put(path, data=b"x", headers={"Content-Type": "text/plain"})
    assert resp.status_code == 415
    assert client.order(order["order_id"])["order_state"] == "WAITING_ACCEPTANCE"  # nothing changed

    assert client.accept(order).status_code == 204
    resp = client.accept(order)
    assert resp.status_code == 400 and _error_code(resp) == "ORDER_INVALID_STATE"
    assert "ORDER_INVALID_STATE" in resp.json()["message"]


def test_partial_acceptance_when_enabled():
    with running_sandbox(with_canadapost=False, partial_acceptance=True) as sb:
        sb.generate_orders(1, lines=[("GAM-PAD", 1), ("STO-SSD-1TB", 1)])
        client = MiraklClient(sb)
        order = client.orders()[0]
        first, second = (line["order_line_id"] for line in order["order_lines"])
        resp = client.put(f"/api/orders/{order['order_id']}/accept",
                          {"order_lines": [{"id": first, "accepted": True}, {"id": second, "accepted": False}]})
        assert resp.status_code == 204
        states = [line["order_line_state"] for line in client.order(order["order_id"])["order_lines"]]
        assert states == ["WAITING_DEBIT_PAYMENT", "REFUSED"]


def test_unaccepted_orders_are_auto_refused_at_the_deadline():
    with running_sandbox(orders=1, with_canadapost=False, acceptance_timeout=600) as sb:
        client = MiraklClient(sb)
        sb.advance(601)
        order = client.orders()[0]
        assert order["order_state"] == "REFUSED" and order["acceptance_decision_date"] is None


# -- OR23 / OR24 / SH21 / OR29 -------------------------------------------------------------------


def test_sh21_lists_canada_post_as_cpcl(client):
    resp = client.get("/api/shipping/carriers")
    validate_mirakl("/api/shipping/carriers", "GET", 200, resp.json())
    carriers = {c["code"]: c for c in resp.json()["carriers"]}
    assert carriers["CPCL"]["label"] == "Canada Post"
    assert "{trackingId}" in carriers["CPCL"]["tracking_url"]
    assert {"PRLA", "UPSN", "FEDX", "CPAR"} <= set(carriers)


def test_tracking_then_ship(sandbox, client):
    order = shipping_order(client, sandbox)
    path = f"/api/orders/{order['order_id']}"
    payload = {"carrier_code": "CPCL", "tracking_number": "7023210039414604"}
    validate_mirakl("/api/orders/{order_id}/tracking", "PUT", 204, payload, kind="request")

    resp = client.put(path + "/ship")
    assert resp.status_code == 400 and _error_code(resp) == "ORDER_TRACKING_MISSING"  # tracking first
    resp = client.put(path + "/tracking", {"carrier_code": "NOPE", "tracking_number": "1"})
    assert resp.status_code == 400
    assert client.put(path + "/tracking", payload).status_code == 204
    tracked = client.order(order["order_id"])
    assert tracked["shipping_tracking"] == "7023210039414604"
    assert tracked["shipping_carrier_code"] == "CPCL"
    assert tracked["shipping_tracking_url"].endswith("7023210039414604")

    assert client.put(path + "/ship").status_code == 204
    shipped = client.order(order["order_id"])
    assert shipped["order_state"] == "SHIPPED"
    assert all(line["shipped_date"] for line in shipped["order_lines"])
    resp = client.put(path + "/ship")  # never twice
    assert resp.status_code == 400 and _error_code(resp) == "ORDER_INVALID_STATE"
    assert sandbox.state("mirakl")["orders"][order["order_id"]]["ship_confirmations"] == 1
    # Tracking may still be corrected after the shipment was confirmed.
    assert client.put(path + "/tracking", {**payload, "tracking_number": "7023210039414611"}).status_code == 204


def test_ship_and_tracking_refused_before_the_debit(client):
    order = client.orders()[0]
    path = f"/api/orders/{order['order_id']}"
    resp = client.put(path + "/ship")
    assert resp.status_code == 400 and _error_code(resp) == "ORDER_INVALID_STATE"
    client.accept(order)
    resp = client.put(path + "/tracking", {"carrier_code": "CPCL", "tracking_number": "1"})
    assert resp.status_code == 400 and _error_code(resp) == "ORDER_INVALID_STATE"
    resp = client.put(path + "/ship")
    assert resp.status_code == 400 and _error_code(resp) == "ORDER_INVALID_STATE"
    assert client.put("/api/orders/1-A/ship").status_code == 404


def test_put_without_content_length_gets_411(sandbox, client):
    import http.client

    conn = http.client.HTTPConnection(sandbox.mirakl_server.host, sandbox.mirakl_server.port, timeout=5)
    conn.putrequest("PUT", "/api/orders/1-A/ship")
    conn.putheader("Authorization", sandbox.mirakl_api_key)
    conn.endheaders()
    assert conn.getresponse().status == 411
    conn.close()


def test_or29_cancels_a_paid_order_only(sandbox, client):
    waiting = client.orders()[0]
    resp = client.put(f"/api/orders/{waiting['order_id']}/cancel")
    assert resp.status_code == 400 and _error_code(resp) == "ORDER_INVALID_STATE"
    order = shipping_order(client, sandbox)
    assert client.put(f"/api/orders/{order['order_id']}/cancel").status_code == 204
    assert client.order(order["order_id"])["order_state"] == "CANCELED"
