"""Fixtures for the sandbox's own tests: a Mirakl sandbox on an ephemeral port and a client."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from sandbox.testing import SandboxHandle, running_sandbox


class MiraklClient:
    """Just enough of a Mirakl client to drive the sandbox over real HTTP."""

    def __init__(self, handle: SandboxHandle, timeout: float = 10.0) -> None:
        self.handle = handle
        self.base = handle.mirakl_url
        self.session = requests.Session()
        self.session.headers.update({"Authorization": handle.mirakl_api_key, "Accept": "application/json"})
        self.timeout = timeout

    def get(self, path: str, **params: Any) -> requests.Response:
        return self.session.get(self.base + path, params=params, timeout=self.timeout)

    def put(self, path: str, payload: Any = None, **kwargs: Any) -> requests.Response:
        if payload is None:
            return self.session.put(self.base + path, timeout=self.timeout, **kwargs)
        return self.session.put(self.base + path, json=payload, timeout=self.timeout, **kwargs)

    def post_part(self, path: str, part: str, payload: Any) -> requests.Response:
        files = {part: (None, json.dumps(payload), "application/json")}
        return self.session.post(self.base + path, files=files, timeout=self.timeout)

    def orders(self, **params: Any) -> list[dict]:
        resp = self.get("/api/orders", **params)
        assert resp.status_code == 200, resp.text
        return resp.json()["orders"]

    def order(self, order_id: str) -> dict:
        (order,) = self.orders(order_ids=order_id)
        return order

    def accept(self, order: dict, accepted: bool = True) -> requests.Response:
        decisions = [{"id": line["order_line_id"], "accepted": accepted} for line in order["order_lines"]]
        return self.put(f"/api/orders/{order['order_id']}/accept", {"order_lines": decisions})


@pytest.fixture
def sandbox() -> Iterator[SandboxHandle]:
    # Mirakl only: these tests must not depend on the Canada Post half being importable.
    with running_sandbox(seed=7, orders=5, debit_delay=0.2, with_canadapost=False) as handle:
        yield handle


@pytest.fixture
def client(sandbox: SandboxHandle) -> Iterator[MiraklClient]:
    mirakl = MiraklClient(sandbox)
    yield mirakl
    mirakl.session.close()


def shipping_order(client: MiraklClient, sandbox: SandboxHandle) -> dict:
    """An order moved to SHIPPING through OR21 and the (advanced) debit."""
    order = client.orders(order_state_codes="WAITING_ACCEPTANCE")[0]
    assert client.accept(order).status_code == 204
    sandbox.advance(1)
    order = client.order(order["order_id"])
    assert order["order_state"] == "SHIPPING"
    return order
