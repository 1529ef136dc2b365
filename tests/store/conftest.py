from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from orderflow.hooks.mirakl_records import order_from_payload
from orderflow.store import OrderStore

_ids = itertools.count(1)


def make_payload(order_id: str | None = None, *, state: str = "WAITING_ACCEPTANCE", lines: int = 1) -> dict:
    """A minimal but well-formed Mirakl OR11 order."""
    n = next(_ids)
    order_id = order_id or f"T{n:06d}-A"
    created = datetime(2026, 11, 20, 12, 0, tzinfo=UTC) + timedelta(minutes=n)
    return {
        "order_id": order_id,
        "commercial_id": order_id.split("-")[0],
        "order_state": state,
        "created_date": created.isoformat().replace("+00:00", "Z"),
        "last_updated_date": created.isoformat().replace("+00:00", "Z"),
        "shipping_deadline": (created + timedelta(days=2)).isoformat().replace("+00:00", "Z"),
        "leadtime_to_ship": 2,
        "customer": {"customer_id": f"C{n}", "firstname": "Jo", "lastname": "Roe", "shipping_address": None},
        "price": 100.0,
        "shipping_price": 0,
        "total_price": 100.0,
        "currency_iso_code": "CAD",
        "order_lines": [
            {"order_line_id": f"{order_id}-{i}", "order_line_index": i, "offer_sku": "SKU-1",
             "quantity": 1, "price_unit": 100.0, "price": 100.0, "total_price": 100.0}
            for i in range(1, lines + 1)
        ],
    }


@pytest.fixture
def store(fresh_db):
    s = OrderStore(fresh_db)
    yield s
    s.close()


@pytest.fixture
def new_order(store):
    def _make(status: str | None = "pending_acceptance", **kwargs) -> str:
        payload = make_payload(**kwargs)
        store.upsert_orders([order_from_payload(payload)])
        if status is not None:
            store.record_transition(payload["order_id"], status)
        return payload["order_id"]

    return _make
