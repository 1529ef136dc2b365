"""After-sale builders/parsers (pure) and MiraklHook's after-sale calls against the sandbox (issue 13)."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest
import requests

from orderflow.hooks import mirakl_aftersale as api
from orderflow.hooks._http import RetryPolicy
from orderflow.hooks.mirakl import (
    MiraklHook,
    MiraklResponseError,
    MiraklServerError,
    MiraklValidationError,
)
from sandbox.openapi import validate_mirakl
from sandbox.testing import running_sandbox

FAST = RetryPolicy(max_attempts=4, max_total_seconds=20, initial_wait=0.02, max_wait=0.1)


def _refund(line_id: str = "100-A-1", amount: str = "10.00", **kw) -> api.LineMoney:
    return api.LineMoney(line_id, Decimal(amount), Decimal(kw.pop("shipping", "0.00")), kw.pop("reason", "GOODWILL"),
                         taxes=kw.pop("taxes", (("HST", Decimal("1.30")),)), **kw)


# -- pure ----------------------------------------------------------------------------------------------
def test_money_builders_match_the_openapi_and_are_never_repeated_blindly():
    refund = api.build_refund_lines([_refund()])
    assert (refund.operation, refund.method, refund.path) == ("OR28", "PUT", "/api/orders/refund")
    validate_mirakl("/api/orders/refund", "PUT", 200, refund.json_body, kind="request")
    assert refund.json_body["refunds"][0]["taxes"] == [{"code": "HST", "amount": 1.3}]
    cancel = api.build_cancel_lines([_refund(quantity=1, reason="OUT_OF_STOCK")])
    validate_mirakl("/api/orders/cancel", "PUT", 200, cancel.json_body, kind="request")
    whole = api.build_cancel_order("100-A")
    assert whole.path == "/api/orders/100-A/cancel" and not whole.has_json_body
    for req in (refund, cancel, whole):
        assert not req.safe_to_repeat
    incident = api.build_resolve_incident("100-A", "100-A-1", "ANSWERED")
    validate_mirakl("/api/orders/{order_id}/lines/{line}/resolve_incident", "PUT", 204, incident.json_body,
                    kind="request")
    assert incident.path == "/api/orders/100-A/lines/100-A-1/resolve_incident"


def test_money_builders_refuse_bad_amounts():
    with pytest.raises(MiraklValidationError, match="reason"):
        api.build_refund_lines([_refund(reason="")])
    with pytest.raises(MiraklValidationError, match="cents"):
        api.build_refund_lines([_refund(amount="1.005")])
    with pytest.raises(MiraklValidationError, match=">= 0"):
        api.build_refund_lines([_refund(amount="-1.00")])
    with pytest.raises(MiraklValidationError, match="both 0"):
        api.build_refund_lines([_refund(amount="0.00")])
    with pytest.raises(MiraklValidationError, match="quantity"):
        api.build_cancel_lines([_refund()])  # quantity 0
    with pytest.raises(MiraklValidationError, match="nothing"):
        api.build_refund_lines([])


def test_returns_builders_match_the_openapi():
    listing = api.build_list_returns(states=["IN_PROGRESS", "RECEIVED"], return_ids=["r1"], page_token="t")
    assert listing.params == (("return_state", "IN_PROGRESS"), ("return_state", "RECEIVED"), ("return_id", "r1"),
                              ("limit", "100"), ("page_token", "t"))
    with pytest.raises(MiraklValidationError):
        api.build_list_returns(states=["LOST"])
    for build, path in ((api.build_receive_returns, "/api/returns/receive"),
                        (api.build_close_returns, "/api/returns/close")):
        req = build(["r1", "r1", "r2"])
        assert req.json_body == {"returns": [{"id": "r1"}, {"id": "r2"}]}
        validate_mirakl(path, "PUT", 200, req.json_body, kind="request")
    with pytest.raises(MiraklValidationError):
        api.build_receive_returns([f"r{i}" for i in range(101)])
    rt26 = api.build_return_compliance({"r1": [api.LineCompliance("1-A-1", False, "RETURN_NON_COMPLIANT_MISSING_ITEM",
                                                                  "box empty")]})
    validate_mirakl("/api/returns/compliance", "PUT", 200, rt26.json_body, kind="request")
    with pytest.raises(MiraklValidationError, match="non-compliance reason"):
        api.build_return_compliance({"r1": [api.LineCompliance("1-A-1", False)]})


def test_line_balance_and_taxes_in_proportion():
    line = {"order_line_id": "1-A-1", "price": 200.0, "shipping_price": 10.0, "quantity": 2, "can_refund": True,
            "taxes": [{"code": "HST", "amount": 26.0}],
            "refunds": [{"amount": 50.0, "shipping_amount": 0, "taxes": [{"code": "HST", "amount": 6.5}]}],
            "cancelations": []}
    balance = api.line_balance(line)
    assert balance.amount_left == Decimal("150.00") and balance.shipping_left == Decimal("10.00")
    assert balance.taxes_left == (("HST", Decimal("19.50")),)
    assert api.taxes_for(balance, Decimal("75.00")) == (("HST", Decimal("9.75")),)
    assert api.taxes_for(balance, Decimal("150.00")) == (("HST", Decimal("19.50")),)


def test_parsers_refuse_bodies_they_cannot_trust():
    with pytest.raises(MiraklResponseError):
        api.parse_money_created("OR28", 200, '{"refunds": [{"amount": 1}]}')
    page = api.parse_returns_page(200, '{"data": [], "next_page_token": "x"}')
    assert page.next_page_token == "x"
    with pytest.raises(MiraklResponseError, match="return_lines"):
        api.parse_returns_page(200, '{"data": [{"id": "r", "order_id": "o", "state": "RECEIVED"}]}')
    update = api.parse_returns_update("RT25", 200, '{"return_success": [{"id": "a"}], '
                                                   '"return_errors": [{"id": "b", "message": "no"}]}')
    assert update.succeeded == ["a"] and update.errors == {"b": "no"}


# -- against the sandbox -------------------------------------------------------------------------------
@pytest.fixture
def sb(monkeypatch):
    with running_sandbox(orders=2, with_canadapost=False, debit_delay=0.2, return_rate=1.0, return_delay=60,
                         in_store_return_share=0.0) as handle:
        for conn_id, value in handle.airflow_conn_uris().items():
            monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", value)
        yield handle


@pytest.fixture
def hook(sb):
    h = MiraklHook(retry_policy=FAST, timeout=(2.0, 5.0))
    yield h
    h.close()


def _ship(hook: MiraklHook, sb, order_id: str, ship: bool = True) -> dict:
    order = hook.get_order(order_id)
    hook.accept_order(order_id, [ln["order_line_id"] for ln in order["order_lines"]])
    sb.advance(1)
    if ship:
        hook.set_tracking(order_id, "CPCL", "7023210039414604")
        hook.mark_shipped(order_id)
    return hook.get_order(order_id)


def _calls(sb, endpoint: str, at_least: int) -> list:
    deadline = time.monotonic() + 3
    calls = sb.calls("mirakl", endpoint)
    while len(calls) < at_least and time.monotonic() < deadline:
        time.sleep(0.02)
        calls = sb.calls("mirakl", endpoint)
    return calls


def test_refund_and_cancel_through_the_hook(sb, hook):
    first, second = (o["order_id"] for o in hook.list_orders())
    shipped = _ship(hook, sb, first)
    line = shipped["order_lines"][0]
    balance = api.line_balance(line)
    amount = (balance.amount_left / 2).quantize(api.CENT)
    (created,) = hook.refund_lines([api.LineMoney(line["order_line_id"], amount, Decimal(0), "GOODWILL",
                                                  taxes=api.taxes_for(balance, amount))])
    after = hook.get_order(first)["order_lines"][0]
    assert [r["id"] for r in after["refunds"]] == [created["refund_id"]]
    assert api.line_balance(after).amount_left == balance.amount_left - amount

    shipping = _ship(hook, sb, second, ship=False)
    line = shipping["order_lines"][0]
    balance = api.line_balance(line)
    (canceled,) = hook.cancel_lines([api.LineMoney(line["order_line_id"], balance.amount_left, Decimal(0),
                                                   "OUT_OF_STOCK", quantity=balance.quantity_left,
                                                   taxes=balance.taxes_left)])
    assert hook.get_order(second)["order_lines"][0]["cancelations"][0]["id"] == canceled["cancelation_id"]


def test_a_refund_is_not_resent_after_a_5xx_but_a_return_receipt_is(sb, hook):
    order_id = hook.list_orders()[0]["order_id"]
    line = _ship(hook, sb, order_id)["order_lines"][0]
    sb.set_faults("mirakl", "OR28", error_rate=1, error_statuses=[503], count=1)
    with pytest.raises(MiraklServerError):
        hook.refund_lines([api.LineMoney(line["order_line_id"], Decimal("5.00"), Decimal(0), "GOODWILL",
                                         taxes=(("HST", Decimal("0.65")),))])
    assert len(_calls(sb, "OR28", 1)) == 1  # one try only: a refund is never repeated blindly
    sb.advance(61)
    (ret,) = hook.list_returns(states=["IN_PROGRESS"])
    sb.set_faults("mirakl", "RT25", error_rate=1, error_statuses=[503], count=1)
    assert hook.receive_returns([ret["id"]]).succeeded == [ret["id"]]
    assert len(_calls(sb, "RT25", 2)) == 2


def test_reasons_are_cached(sb, hook):
    refund_codes = {r.code for r in hook.list_reasons("REFUND")}
    assert "GOODWILL" in refund_codes
    assert {r.code for r in hook.list_reasons("CANCELATION") if r.is_shop_right} >= {"OUT_OF_STOCK"}
    assert len(_calls(sb, "RE01", 1)) == 1
    assert {r.code for r in hook.list_reasons_by_type("INCIDENT_CLOSE")} >= {"ANSWERED"}


def test_returns_sweep_pages_and_the_guided_steps(sb, hook):
    ids = [o["order_id"] for o in hook.list_orders()]
    for order_id in ids:
        _ship(hook, sb, order_id)
    sb.advance(61)
    page = api.build_list_returns(limit=1)
    resp = requests.get(sb.mirakl_url + page.path, params=page.query(),
                        headers={"Authorization": sb.mirakl_api_key}, timeout=5)
    assert resp.json()["next_page_token"]
    returns = hook.list_returns()
    assert sorted(r["order_id"] for r in returns) == sorted(ids)
    ret = returns[0]
    line_id = ret["return_lines"][0]["order_line_id"]
    assert hook.receive_returns([ret["id"]]).succeeded == [ret["id"]]
    assert hook.receive_returns([ret["id"]]).errors  # already received: refused per return, HTTP 200
    judged = hook.set_return_compliance({ret["id"]: [api.LineCompliance(line_id, True)]})
    assert judged.succeeded == [ret["id"]]
    assert hook.close_returns([ret["id"]]).succeeded == [ret["id"]]
    (closed,) = hook.list_returns(return_ids=[ret["id"]])
    assert closed["state"] == "CLOSED" and closed["return_lines"][0]["compliance"] == [{"compliant": True}]


def test_incident_read_and_resolved(sb, hook):
    order_id = hook.list_orders()[0]["order_id"]
    line = _ship(hook, sb, order_id)["order_lines"][0]
    requests.post(f"{sb.mirakl_url}/__admin/incident", json={"order_id": order_id, "reason": "ITEM_DEFECTIVE"},
                  timeout=5)
    order = hook.get_order(order_id)
    (incident,) = api.open_incidents(order)
    assert order["has_incident"] and incident.order_line_id == line["order_line_id"]
    assert incident.reason_code == "ITEM_DEFECTIVE" and incident.since
    hook.resolve_incident(order_id, line["order_line_id"], "ANSWERED")
    assert api.open_incidents(hook.get_order(order_id)) == []


def test_or21_with_refused_lines_matches_the_openapi_and_the_sandbox_takes_it():
    req = api.build_accept_lines("100-A", {"100-A-1": True, "100-A-2": False})
    validate_mirakl("/api/orders/{order_id}/accept", "PUT", 204, req.json_body, kind="request")
    assert req.json_body["order_lines"] == [{"accepted": True, "id": "100-A-1"}, {"accepted": False, "id": "100-A-2"}]
    with pytest.raises(MiraklValidationError):
        api.build_accept_lines("100-A", {})
    with running_sandbox(orders=0, with_canadapost=False, debit_delay=0.0, partial_acceptance=True) as sb:
        from sandbox.catalog import PRODUCTS_BY_SKU

        skus = list(PRODUCTS_BY_SKU)
        (order_id,) = sb.generate_orders(1, lines=[(skus[0], 1), (skus[1], 1)])
        req = api.build_accept_lines(order_id, {f"{order_id}-1": True, f"{order_id}-2": False})
        resp = requests.put(sb.mirakl_url + req.path, json=req.json_body, headers={"Authorization": sb.mirakl_api_key},
                            timeout=5)
        assert resp.status_code == 204
        order = requests.get(sb.mirakl_url + "/api/orders", params={"order_ids": order_id},
                             headers={"Authorization": sb.mirakl_api_key}, timeout=5).json()["orders"][0]
        assert [ln["order_line_state"] for ln in order["order_lines"]] == ["SHIPPING", "REFUSED"]
