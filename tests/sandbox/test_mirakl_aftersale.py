"""Mirakl sandbox after the sale: OR28, OR29/OR30, OR64, RE01/RE02, RT11/RT25/RT26/RT27 (issue 13).

Every request and answer is checked against the OpenAPI file; refunds and cancelations must show
on the OR11 lines, returns and incidents must arrive on shipped orders at the configured rates.
"""

from __future__ import annotations

import requests

from sandbox.openapi import validate_mirakl
from sandbox.testing import running_sandbox
from tests.sandbox.conftest import MiraklClient, shipping_order


def _code(resp: requests.Response) -> str:
    return resp.json()["errors"][0]["code"]


def _shipped(client: MiraklClient, sandbox) -> dict:
    order = shipping_order(client, sandbox)
    assert client.put(f"/api/orders/{order['order_id']}/tracking",
                      {"carrier_code": "CPCL", "tracking_number": "7023210039414604"}).status_code == 204
    assert client.put(f"/api/orders/{order['order_id']}/ship").status_code == 204
    return client.order(order["order_id"])


def _taxes(line: dict, share: float = 1.0) -> list[dict]:
    return [{"code": t["code"], "amount": round(t["amount"] * share, 2)} for t in line["taxes"]]


def test_reasons_re01_and_re02_match_the_openapi(client):
    resp = client.get("/api/reasons")
    assert resp.status_code == 200
    validate_mirakl("/api/reasons", "GET", 200, resp.json())
    types = {r["type"] for r in resp.json()["reasons"]}
    assert {"CANCELATION", "REFUND", "INCIDENT_OPEN", "INCIDENT_CLOSE"} <= types
    by_type = client.get("/api/reasons/REFUND")
    validate_mirakl("/api/reasons/{reason_type}", "GET", 200, by_type.json())
    assert {r["code"] for r in by_type.json()["reasons"]} >= {"ITEM_RETURNED", "GOODWILL"}
    assert client.get("/api/reasons/NOPE").status_code == 400


def test_or30_cancels_one_line_the_rest_keeps_flowing_and_or11_shows_it():
    with running_sandbox(seed=3, orders=0, debit_delay=0.2, with_canadapost=False) as sb:
        client = MiraklClient(sb)
        (order_id,) = sb.generate_orders(1, lines=[(_skus()[0], 1), (_skus()[1], 2)])
        order = shipping_order(client, sb)
        assert order["order_id"] == order_id
        line = order["order_lines"][1]
        body = {"cancelations": [{"order_line_id": line["order_line_id"], "quantity": 1,
                                  "amount": line["price_unit"], "shipping_amount": 0,
                                  "reason_code": "OUT_OF_STOCK", "taxes": _taxes(line, 0.5)}],
                "order_tax_mode": "TAX_EXCLUDED"}
        validate_mirakl("/api/orders/cancel", "PUT", 200, body, kind="request")
        resp = client.put("/api/orders/cancel", body)
        assert resp.status_code == 200, resp.text
        validate_mirakl("/api/orders/cancel", "PUT", 200, resp.json())
        (created,) = resp.json()["cancelations"]
        after = client.order(order_id)
        validate_mirakl("/api/orders", "GET", 200, {"orders": [after], "total_count": 1})
        assert after["order_state"] == "SHIPPING"
        assert [c["id"] for c in after["order_lines"][1]["cancelations"]] == [created["cancelation_id"]]
        assert after["order_lines"][1]["order_line_state"] == "SHIPPING"  # one of two units left
        # The second unit: now the line is canceled, the first line still ships.
        body["cancelations"][0]["taxes"] = _taxes(line, 0.5)
        assert client.put("/api/orders/cancel", body).status_code == 200
        # A third unit does not exist.
        over = client.put("/api/orders/cancel", body)
        assert over.status_code == 400
        after = client.order(order_id)
        assert [ln["order_line_state"] for ln in after["order_lines"]] == ["SHIPPING", "CANCELED"]
        assert client.put(f"/api/orders/{order_id}/tracking",
                          {"carrier_code": "CPCL", "tracking_number": "7023210039414604"}).status_code == 204
        assert client.put(f"/api/orders/{order_id}/ship").status_code == 204
        shipped = client.order(order_id)
        assert [ln["order_line_state"] for ln in shipped["order_lines"]] == ["SHIPPED", "CANCELED"]


def _skus() -> list[str]:
    from sandbox.catalog import PRODUCTS_BY_SKU

    return list(PRODUCTS_BY_SKU)


def test_or30_refuses_bad_requests(sandbox, client):
    order = shipping_order(client, sandbox)
    line = order["order_lines"][0]
    good = {"order_line_id": line["order_line_id"], "quantity": 1, "amount": line["price_unit"],
            "shipping_amount": 0, "reason_code": "OUT_OF_STOCK", "taxes": _taxes(line, 1 / line["quantity"])}
    assert client.put("/api/orders/cancel", {"cancelations": [{**good, "reason_code": "NOPE"}]}).status_code == 400
    operator_only = client.put("/api/orders/cancel", {"cancelations": [{**good, "reason_code": "FRAUD_SUSPECTED"}]})
    assert _code(operator_only) == "REASON_NOT_ALLOWED"
    no_taxes = client.put("/api/orders/cancel", {"cancelations": [{k: v for k, v in good.items() if k != "taxes"}]})
    assert no_taxes.status_code == 400
    missing_field = client.put("/api/orders/cancel", {"cancelations": [{k: v for k, v in good.items()
                                                                         if k != "quantity"}]})
    assert _code(missing_field) == "VALIDATION_ERROR"
    unknown = client.put("/api/orders/cancel", {"cancelations": [{**good, "order_line_id": "nope-A-1"}]})
    assert _code(unknown) == "ORDER_LINE_NOT_FOUND"
    assert client.order(order["order_id"])["order_lines"][0]["cancelations"] == []


def test_or29_cancels_the_whole_order_with_cancelations_on_every_line(sandbox, client):
    order = shipping_order(client, sandbox)
    assert client.put(f"/api/orders/{order['order_id']}/cancel").status_code == 204
    after = client.order(order["order_id"])
    assert after["order_state"] == "CANCELED"
    assert all(ln["order_line_state"] == "CANCELED" and len(ln["cancelations"]) == 1 for ln in after["order_lines"])
    validate_mirakl("/api/orders", "GET", 200, {"orders": [after], "total_count": 1})
    assert _code(client.put(f"/api/orders/{order['order_id']}/cancel")) == "ORDER_INVALID_STATE"


def test_or28_refunds_up_to_the_line_amount_and_never_more(sandbox, client):
    order = _shipped(client, sandbox)
    line = order["order_lines"][0]
    assert line["can_refund"] is True
    half = round(line["price"] / 2, 2)
    body = {"refunds": [{"order_line_id": line["order_line_id"], "amount": half, "shipping_amount": 0,
                         "reason_code": "DAMAGED_IN_TRANSIT", "quantity": 0, "taxes": _taxes(line, 0.5)}],
            "order_tax_mode": "TAX_EXCLUDED"}
    resp = client.put("/api/orders/refund", body)
    assert resp.status_code == 200, resp.text
    validate_mirakl("/api/orders/refund", "PUT", 200, resp.json())
    (created,) = resp.json()["refunds"]
    after = client.order(order["order_id"])
    validate_mirakl("/api/orders", "GET", 200, {"orders": [after], "total_count": 1})
    (refund,) = after["order_lines"][0]["refunds"]
    assert refund["id"] == created["refund_id"] and refund["amount"] == half
    assert refund["refund_state"] == "REFUNDED"
    too_much = dict(body["refunds"][0], amount=round(line["price"] - half + 0.02, 2))
    assert _code(client.put("/api/orders/refund", {"refunds": [too_much]})) == "AMOUNT_TOO_HIGH"
    rest = dict(body["refunds"][0], amount=round(line["price"] - half, 2),
                taxes=[{"code": t["code"], "amount": round(t["amount"] - round(t["amount"] * 0.5, 2), 2)}
                       for t in line["taxes"]])
    assert client.put("/api/orders/refund", {"refunds": [rest]}).status_code == 200
    full = client.order(order["order_id"])["order_lines"][0]
    assert full["can_refund"] is False and full["order_line_state"] == "REFUNDED"
    assert len(full["refunds"]) == 2


def test_or28_refuses_an_unshipped_line_and_a_delayed_refund_settles():
    with running_sandbox(seed=5, orders=1, debit_delay=0.2, with_canadapost=False, refund_delay=60) as sb:
        c = MiraklClient(sb)
        order = shipping_order(c, sb)
        line = order["order_lines"][0]
        item = {"order_line_id": line["order_line_id"], "amount": 1.0, "shipping_amount": 0,
                "reason_code": "GOODWILL", "taxes": _taxes(line, 0)}
        assert _code(c.put("/api/orders/refund", {"refunds": [item]})) == "ORDER_INVALID_STATE"
        assert c.put(f"/api/orders/{line['order_line_id'].rsplit('-', 1)[0]}/tracking",
                     {"carrier_code": "CPCL", "tracking_number": "7023210039414604"}).status_code == 204
        assert c.put(f"/api/orders/{line['order_line_id'].rsplit('-', 1)[0]}/ship").status_code == 204
        assert c.put("/api/orders/refund", {"refunds": [item]}).status_code == 200
        order_id = line["order_line_id"].rsplit("-", 1)[0]
        assert c.order(order_id)["order_lines"][0]["refunds"][0]["refund_state"] == "WAITING_REFUND"
        sb.advance(61)
        assert c.order(order_id)["order_lines"][0]["refunds"][0]["refund_state"] == "REFUNDED"


def test_dropped_or28_answer_still_commits_the_refund(sandbox, client):
    order = _shipped(client, sandbox)
    line = order["order_lines"][0]
    sandbox.set_faults("mirakl", "OR28", drop_rate=1, count=1)
    item = {"order_line_id": line["order_line_id"], "amount": 5.0, "shipping_amount": 0,
            "reason_code": "GOODWILL", "taxes": _taxes(line, 0)}
    try:
        client.put("/api/orders/refund", {"refunds": [item]})
        raise AssertionError("the answer should have been dropped")
    except requests.ConnectionError:
        pass
    assert len(client.order(order["order_id"])["order_lines"][0]["refunds"]) == 1
    assert len(sandbox.state("mirakl")["refunds"][order["order_id"]]) == 1


def test_returns_arrive_on_shipped_orders_and_go_through_rt25_rt26_rt27():
    with running_sandbox(seed=9, orders=4, debit_delay=0.2, with_canadapost=False, return_rate=1.0,
                         return_delay=3600, in_store_return_share=0.0) as sb:
        c = MiraklClient(sb)
        ids = []
        for _ in range(3):
            ids.append(_shipped(c, sb)["order_id"])
        assert c.get("/api/returns").json()["data"] == []
        sb.advance(3601)
        first = c.get("/api/returns", limit=2)
        assert first.status_code == 200
        validate_mirakl("/api/returns", "GET", 200, first.json())
        token = first.json()["next_page_token"]
        second = c.get("/api/returns", limit=2, page_token=token).json()
        assert "next_page_token" not in second
        returns = first.json()["data"] + second["data"]
        assert sorted(r["order_id"] for r in returns) == sorted(ids)
        ret = returns[0]
        assert ret["state"] == "IN_PROGRESS" and ret["method_code"] == "RETURN_METHOD_BY_MAIL"
        assert ret["tracking"]["tracking_number"]
        assert c.get("/api/returns", return_id=ret["id"]).json()["data"][0]["id"] == ret["id"]

        receive = {"returns": [{"id": ret["id"]}]}
        validate_mirakl("/api/returns/receive", "PUT", 200, receive, kind="request")
        resp = c.put("/api/returns/receive", receive)
        validate_mirakl("/api/returns/receive", "PUT", 200, resp.json())
        assert resp.json()["return_success"] == [{"id": ret["id"]}]
        again = c.put("/api/returns/receive", receive).json()
        assert again["return_success"] == [] and again["return_errors"][0]["id"] == ret["id"]
        line_id = ret["return_lines"][0]["order_line_id"]
        bad = {"returns": [{"id": ret["id"], "return_lines": [{"order_line_id": line_id, "compliant": False}]}]}
        assert c.put("/api/returns/compliance", bad).json()["return_errors"]
        judged = {"returns": [{"id": ret["id"], "return_lines": [
            {"order_line_id": line_id, "compliant": False,
             "non_compliance_reason_code": "RETURN_NON_COMPLIANT_DAMAGED_PRODUCT",
             "non_compliance_additional_info": "screen cracked"}]}]}
        validate_mirakl("/api/returns/compliance", "PUT", 200, judged, kind="request")
        resp = c.put("/api/returns/compliance", judged)
        validate_mirakl("/api/returns/compliance", "PUT", 200, resp.json())
        assert resp.json()["return_success"] == [{"id": ret["id"]}]
        assert c.put("/api/returns/close", {"returns": [{"id": ret["id"]}]}).json()["return_success"]
        closed = c.get("/api/returns", return_id=ret["id"]).json()["data"][0]
        validate_mirakl("/api/returns", "GET", 200, {"data": [closed]})
        assert closed["state"] == "CLOSED"
        assert closed["return_lines"][0]["compliance"][0]["non_compliance_reason_code"] \
            == "RETURN_NON_COMPLIANT_DAMAGED_PRODUCT"
        assert sb.state("mirakl")["returns"][ret["id"]]["state"] == "CLOSED"


def test_in_store_return_is_refunded_by_best_buy():
    with running_sandbox(seed=2, orders=1, debit_delay=0.2, with_canadapost=False) as sb:
        c = MiraklClient(sb)
        order = _shipped(c, sb)
        resp = requests.post(f"{sb.mirakl_url}/__admin/return",
                             json={"order_id": order["order_id"], "method": "RETURN_METHOD_IN_STORE"}, timeout=5)
        assert resp.status_code == 200
        ret = c.get("/api/returns").json()["data"][0]
        assert ret["state"] == "RECEIVED" and ret["method_code"] == "RETURN_METHOD_IN_STORE"
        after = c.order(order["order_id"])
        assert all(ln["refunds"] and not ln["can_refund"] for ln in after["order_lines"])
        validate_mirakl("/api/orders", "GET", 200, {"orders": [after], "total_count": 1})


def test_incidents_open_at_the_rate_and_or64_resolves_them():
    with running_sandbox(seed=4, orders=2, debit_delay=0.2, with_canadapost=False, incident_rate=1.0,
                         incident_delay=60) as sb:
        c = MiraklClient(sb)
        order = _shipped(c, sb)
        assert c.order(order["order_id"])["has_incident"] is False
        sb.advance(61)
        after = c.order(order["order_id"])
        validate_mirakl("/api/orders", "GET", 200, {"orders": [after], "total_count": 1})
        assert after["has_incident"] is True
        line = after["order_lines"][0]
        assert line["order_line_state"] == "INCIDENT_OPEN" and line["order_line_state_reason_code"]
        threads = c.get("/api/inbox/threads", entity_type="MMP_ORDER", entity_id=order["order_id"]).json()["data"]
        assert threads and threads[0]["topic"]["type"] == "REASON_CODE"
        path = f"/api/orders/{order['order_id']}/lines/{line['order_line_id']}/resolve_incident"
        assert _code(c.put(path, {"reason_code": "OPERATOR_DECISION"})) == "REASON_NOT_ALLOWED"
        assert _code(c.put(path, {})) == "VALIDATION_ERROR"
        validate_mirakl("/api/orders/{order_id}/lines/{line}/resolve_incident", "PUT", 204,
                        {"reason_code": "ANSWERED"}, kind="request")
        assert c.put(path, {"reason_code": "ANSWERED"}).status_code == 204
        resolved = c.order(order["order_id"])
        assert resolved["has_incident"] is False and resolved["order_lines"][0]["order_line_state"] == "SHIPPED"
        assert _code(c.put(path, {"reason_code": "ANSWERED"})) == "ORDER_LINE_INVALID_STATE"


def test_aftersale_state_survives_snapshot_and_restore():
    with running_sandbox(seed=6, orders=1, debit_delay=0.2, with_canadapost=False) as sb:
        c = MiraklClient(sb)
        order = _shipped(c, sb)
        requests.post(f"{sb.mirakl_url}/__admin/return", json={"order_id": order["order_id"]}, timeout=5)
        data = sb.mirakl.snapshot()
        from sandbox.mirakl.service import MiraklService

        other = MiraklService(seed=6)
        other.restore(data)
        assert other.inspect()["returns"] == sb.state("mirakl")["returns"]
