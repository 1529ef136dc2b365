"""The framework's faults, rate limits and admin API, exercised through the Mirakl service."""

from __future__ import annotations

import json
import time

import pytest
import requests

from sandbox.core import FaultConfig, FaultSpec, RateLimiter
from sandbox.testing import running_sandbox
from tests.sandbox.conftest import MiraklClient, shipping_order


def _admin(sandbox, method: str, action: str, payload=None, **params) -> requests.Response:
    return requests.request(method, f"{sandbox.mirakl_url}/__admin/{action}", json=payload, params=params,
                            timeout=5)


def test_latency_is_added(sandbox, client):
    sandbox.set_faults("mirakl", "SH21", latency_ms=300)
    started = time.monotonic()
    assert client.get("/api/shipping/carriers").status_code == 200
    assert time.monotonic() - started >= 0.3
    call = sandbox.calls("mirakl", "SH21")[-1]
    assert call.duration_ms >= 300 and call.outcome == "ok"


@pytest.mark.parametrize("status", [500, 502, 503])
def test_injected_5xx_does_not_commit(sandbox, client, status):
    order = client.orders()[0]
    sandbox.set_faults("mirakl", "OR21", error_rate=1, error_statuses=[status], count=1)
    resp = client.accept(order)
    assert resp.status_code == status
    assert resp.json()["status"] == status  # the API's own error shape
    assert client.order(order["order_id"])["order_state"] == "WAITING_ACCEPTANCE"
    assert client.accept(order).status_code == 204  # count=1: the next one goes through
    assert sandbox.calls("mirakl", "OR21")[0].outcome == "fault"


def test_error_after_commit_changes_state_though_the_client_saw_a_5xx(sandbox, client):
    order = client.orders()[0]
    sandbox.set_faults("mirakl", "OR21", error_rate=1, error_statuses=[502], error_after_commit=True, count=1)
    assert client.accept(order).status_code == 502
    assert client.order(order["order_id"])["order_state"] == "WAITING_DEBIT_PAYMENT"


def test_throttle_fault_answers_429_with_retry_after(sandbox, client):
    sandbox.set_faults("mirakl", "OR11", throttle_rate=1, retry_after=7, count=2)
    for _ in range(2):
        resp = client.get("/api/orders")
        assert resp.status_code == 429 and resp.headers["Retry-After"] == "7"
    assert client.get("/api/orders").status_code == 200
    assert [c.outcome for c in sandbox.calls("mirakl", "OR11")] == ["throttled", "throttled", "ok"]


def test_documented_or11_limit_is_switchable():
    with running_sandbox(orders=2, rate_limits=True, with_canadapost=False) as sb:
        client = MiraklClient(sb)
        first = client.get("/api/orders")
        assert first.status_code == 200
        second = client.get("/api/orders")
        assert second.status_code == 429
        assert 55 <= int(second.headers["Retry-After"]) <= 60
        # Look-ups by order_ids and later pages are separate groups, not limited by default.
        ids = ",".join(o["order_id"] for o in first.json()["orders"])
        assert client.get("/api/orders", order_ids=ids).status_code == 200
        assert client.get("/api/orders", offset=1).status_code == 200
        resp = _admin(sb, "POST", "limits", {"enabled": False})
        assert resp.json()["enabled"] is False
        assert client.get("/api/orders").status_code == 200
        _admin(sb, "POST", "limits", {"enabled": True, "limits": {"OR11_ids": 2, "OR11": None}})
        assert client.get("/api/orders").status_code == 200
        assert [client.get("/api/orders", order_ids="x-A").status_code for _ in range(3)] == [200, 200, 429]


def test_rate_limiter_window():
    limiter = RateLimiter({"A": 2})
    assert limiter.check("A") is None and limiter.check("A") is None
    wait = limiter.check("A")
    assert wait is not None and 59 < wait <= 60
    assert limiter.check("B") is None  # no limit for B
    limiter.configure(enabled=False)
    assert limiter.check("A") is None


def test_rate_limiter_endpoint_limit_beside_the_group_limit():
    limiter = RateLimiter({"A": 3, "endpoint:create_shipment": 1})
    assert limiter.check("A", "create_shipment") is None
    wait = limiter.check("A", "create_shipment")  # the endpoint's budget is spent, group A's is not
    assert wait is not None and 59 < wait <= 60
    # The rejected create counted against neither limit: two more group A calls still fit.
    assert limiter.check("A", "get_artifact") is None
    assert limiter.check("A", "get_artifact") is None
    assert limiter.check("A", "get_artifact") is not None  # now group A is full
    assert limiter.check(None, "other") is None
    limiter.configure(limits={"endpoint:create_shipment": 0})
    assert limiter.check(None, "create_shipment") == 60.0  # a zero limit refuses every call


def test_per_endpoint_limit_over_http_spans_the_endpoints_groups():
    with running_sandbox(orders=2, rate_limits=True, with_canadapost=False) as sb:
        # OR11 look-ups by order_ids (group OR11_ids) and by date (group OR11) are both endpoint OR11.
        resp = _admin(sb, "POST", "limits", {"limits": {"OR11": None, "endpoint:OR11": 2}})
        assert resp.json()["limits"]["endpoint:OR11"] == 2
        client = MiraklClient(sb)
        assert client.get("/api/orders").status_code == 200
        assert client.get("/api/orders", order_ids="x-A").status_code == 200
        third = client.get("/api/orders", order_ids="x-A")
        assert third.status_code == 429 and 55 <= int(third.headers["Retry-After"]) <= 60
        assert client.get("/api/shipping/carriers").status_code == 200  # SH21: another endpoint
        assert [c.outcome for c in sb.calls("mirakl", "OR11")] == ["ok", "ok", "throttled"]


def test_hang_until_the_client_gives_up(sandbox, client):
    sandbox.set_faults("mirakl", "SH21", hang_rate=1, hang_seconds=1.5, count=1)
    started = time.monotonic()
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(sandbox.mirakl_url + "/api/shipping/carriers",
                     headers={"Authorization": sandbox.mirakl_api_key}, timeout=0.5)
    assert time.monotonic() - started < 2
    assert client.get("/api/shipping/carriers").status_code == 200  # the server still serves others
    deadline = time.monotonic() + 5
    while not any(c.outcome == "hung" for c in sandbox.calls("mirakl", "SH21")):
        assert time.monotonic() < deadline, "the hung call was never logged"
        time.sleep(0.1)


def test_malformed_body_is_truncated_json(sandbox, client):
    sandbox.set_faults("mirakl", "OR11", malformed_rate=1, count=1)
    resp = client.get("/api/orders")
    assert resp.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(resp.text)
    assert client.get("/api/orders").json()["total_count"] == 5


def test_commit_then_drop(sandbox, client):
    order = shipping_order(client, sandbox)
    path = f"/api/orders/{order['order_id']}"
    assert client.put(path + "/tracking", {"carrier_code": "CPCL", "tracking_number": "123"}).status_code == 204
    sandbox.set_faults("mirakl", "OR24", drop_rate=1, count=1)
    with pytest.raises(requests.exceptions.ConnectionError):
        client.put(path + "/ship")
    # The client saw nothing, yet the shipment was confirmed: a blind retry is refused.
    assert client.order(order["order_id"])["order_state"] == "SHIPPED"
    retry = client.put(path + "/ship")
    assert retry.status_code == 400
    call = sandbox.calls("mirakl", "OR24")[0]
    assert call.outcome == "dropped" and call.status == 0 and call.handler_status == 204


def test_wildcard_and_count_faults(sandbox, client):
    sandbox.set_faults("mirakl", "*", error_rate=1, error_statuses=[503], count=2)
    assert client.get("/api/shipping/carriers").status_code == 503
    assert client.get("/api/orders").status_code == 503
    assert client.get("/api/orders").status_code == 200


def test_fault_spec_parsing_and_validation():
    endpoint, spec = FaultSpec.parse_cli("OR21:drop_rate=0.5,error_statuses=500|503,count=3,error_after_commit=true")
    assert endpoint == "OR21" and spec.drop_rate == 0.5 and spec.error_statuses == [500, 503]
    assert spec.count == 3 and spec.error_after_commit is True
    with pytest.raises(ValueError):
        FaultSpec.from_dict({"drop_rate": 2})
    with pytest.raises(ValueError):
        FaultSpec.from_dict({"explode": 1})
    with pytest.raises(ValueError):
        FaultSpec.parse_cli("no-colon")
    config = FaultConfig({"X": FaultSpec(drop_rate=0.5)}, seed=4)
    outcomes = [config.decide("X").action for _ in range(200)]
    assert 60 < outcomes.count("drop") < 140 and outcomes.count(None) > 60


def test_admin_api(sandbox, client):
    client.orders()
    client.get("/api/nothing")
    resp = _admin(sandbox, "GET", "calls")
    calls = resp.json()["calls"]
    assert [(c["method"], c["path"], c["endpoint"], c["status"]) for c in calls] == [
        ("GET", "/api/orders", "OR11", 200), ("GET", "/api/nothing", None, 404)]
    assert calls[0]["duration_ms"] >= 0 and calls[0]["ts"] > 0
    assert resp.json()["next"] == 2
    assert _admin(sandbox, "GET", "calls", since=1).json()["calls"][0]["path"] == "/api/nothing"
    assert _admin(sandbox, "GET", "counts").json() == {"OR11": {"200": 1}, "-": {"404": 1}}

    state = _admin(sandbox, "GET", "state").json()
    assert state["orders_by_state"] == {"WAITING_ACCEPTANCE": 5}
    made = _admin(sandbox, "POST", "orders", {"count": 2}).json()["order_ids"]
    assert len(made) == 2 and all(o in _admin(sandbox, "GET", "state").json()["orders"] for o in made)
    msgs = _admin(sandbox, "POST", "messages", {"count": 3}).json()["messages"]
    assert len(msgs) == 3
    custom = _admin(sandbox, "POST", "orders", {"count": 1, "lines": [{"sku": "TV-55-4K", "quantity": 2}]})
    line = client.order(custom.json()["order_ids"][0])["order_lines"]
    assert [(x["offer_sku"], x["quantity"]) for x in line] == [("TV-55-4K", 2)]
    assert _admin(sandbox, "POST", "orders", {"count": 1, "lines": [{"sku": "NOPE"}]}).status_code == 400

    assert _admin(sandbox, "POST", "faults", {"endpoint": "OR11", "error_rate": 1, "count": 1}).status_code == 200
    assert "OR11" in _admin(sandbox, "GET", "faults").json()
    assert _admin(sandbox, "POST", "faults", {"endpoint": "OR11", "bogus": 1}).status_code == 400
    assert _admin(sandbox, "DELETE", "faults").json() == {}
    assert client.get("/api/orders").status_code == 200

    order = client.orders()[0]
    client.accept(order)
    before = _admin(sandbox, "POST", "advance", {"seconds": 5}).json()
    assert before["clock_offset"] >= 5
    assert _admin(sandbox, "GET", "state").json()["orders"][order["order_id"]]["state"] == "SHIPPING"
    assert _admin(sandbox, "POST", "cancel", {"order_id": order["order_id"]}).json()["state"] == "CANCELED"
    assert _admin(sandbox, "POST", "settings", {"debit_delay": 9}).json()["debit_delay"] == 9
    assert _admin(sandbox, "POST", "settings", {"nope": 9}).status_code == 400

    assert _admin(sandbox, "POST", "reset").status_code == 200
    assert _admin(sandbox, "GET", "calls").json()["calls"] == []
    assert _admin(sandbox, "GET", "nothing").status_code == 404


def test_many_concurrent_clients(sandbox):
    from concurrent.futures import ThreadPoolExecutor

    def poll(_: int) -> int:
        return requests.get(sandbox.mirakl_url + "/api/orders",
                            headers={"Authorization": sandbox.mirakl_api_key}, timeout=10).status_code

    with ThreadPoolExecutor(max_workers=32) as pool:
        statuses = list(pool.map(poll, range(200)))
    assert statuses == [200] * 200
    assert sandbox.counts("mirakl")["OR11"] == {"200": 200}
