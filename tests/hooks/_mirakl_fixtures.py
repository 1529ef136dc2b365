"""Mirakl payloads for the hook tests, built from the OpenAPI's own examples so they validate."""

from __future__ import annotations

import copy
from typing import Any

from sandbox.openapi import operation, validate_mirakl

API_KEY = "mirakl-test-key-5f3a9c0e7d"
# Distinctive PII so a test can prove it never reaches a log line.
CUSTOMER_STREET = "742 Evergreen Terrace Unit 9Z"
CUSTOMER_PHONE = "613-555-0199"


def _example(path: str, method: str, status: int = 200, name: str = "application/json-auto") -> Any:
    op = operation(path, method)
    return copy.deepcopy(op["responses"][str(status)]["content"]["application/json"]["examples"][name]["value"])


def order(order_id: str = "1001-A", state: str = "WAITING_ACCEPTANCE", lines: int = 2) -> dict[str, Any]:
    """An OR11 order that validates against the OpenAPI (its complete example, with our values)."""
    template = _example("/api/orders", "GET")["orders"][0]
    result = copy.deepcopy(template)
    result.update(
        order_id=order_id,
        commercial_id=order_id.rsplit("-", 1)[0],
        order_state=state,
        currency_iso_code="CAD",
        created_date="2026-11-20T10:00:00Z",
        last_updated_date="2026-11-20T10:05:00Z",
    )
    result["customer"]["customer_id"] = f"cust-{order_id}"
    result["customer"]["shipping_address"].update(
        street_1=CUSTOMER_STREET, phone=CUSTOMER_PHONE, country_iso_code="CAN", zip_code="K1A 0B1"
    )
    line_template = template["order_lines"][0]
    result["order_lines"] = []
    for index in range(1, lines + 1):
        line = copy.deepcopy(line_template)
        line.update(order_line_id=f"{order_id}-{index}", order_line_index=index, order_line_state=state)
        result["order_lines"].append(line)
    return result


def orders_page(orders: list[dict[str, Any]], total_count: int | None = None) -> dict[str, Any]:
    body = {"orders": orders, "total_count": len(orders) if total_count is None else total_count}
    validate_mirakl("/api/orders", "GET", 200, body)
    return body


def carriers() -> dict[str, Any]:
    body = {
        "carriers": [
            {
                "code": "CPCL",
                "label": "Canada Post",
                "standard_code": "CPCL",
                "tracking_url": "https://www.canadapost-postescanada.ca/track-reperage/en#/details/{trackingId}",
            },
            {"code": "PRLA", "label": "Purolator", "standard_code": "PRLA", "tracking_url": None},
        ]
    }
    validate_mirakl("/api/shipping/carriers", "GET", 200, body)
    return body


def thread(thread_id: str = "702c3e56-dcca-41e2-b6bd-72ba3fa809be", order_id: str = "1001-A") -> dict[str, Any]:
    body = _example("/api/inbox/threads/{thread_id}", "GET", name="application/json-0")
    body["id"] = thread_id
    body["entities"] = [{"id": order_id, "label": order_id, "type": "MMP_ORDER"}]
    validate_mirakl("/api/inbox/threads/{thread_id}", "GET", 200, body)
    return body


def threads_page(thread_ids: list[str], next_page_token: str | None = None) -> dict[str, Any]:
    template = _example("/api/inbox/threads", "GET", name="application/json-0")["data"][0]
    data = []
    for tid in thread_ids:
        item = copy.deepcopy(template)
        item["id"] = tid
        data.append(item)
    body: dict[str, Any] = {"data": data}
    if next_page_token:
        body["next_page_token"] = next_page_token
    validate_mirakl("/api/inbox/threads", "GET", 200, body)
    return body


def message_created(thread_id: str = "702c3e56-dcca-41e2-b6bd-72ba3fa809be") -> dict[str, str]:
    body = {"thread_id": thread_id, "message_id": "873f1cb5-a7a2-4e07-8e0e-12eb64e93ece"}
    validate_mirakl("/api/inbox/threads/{thread_id}/message", "POST", 201, body)
    validate_mirakl("/api/orders/{order_id}/threads", "POST", 201, body)
    return body
