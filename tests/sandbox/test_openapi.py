"""sandbox.openapi: schema validation that allows null anywhere and catches real mismatches."""

from __future__ import annotations

import pytest

from sandbox.openapi import OpenAPIValidationError, operation, validate_mirakl


def _example(path: str, method: str) -> dict:
    return operation(path, method)["responses"]["200"]["content"]["application/json"]["examples"][
        "application/json-0"]["value"]


def test_documented_examples_validate():
    for path in ("/api/inbox/threads", "/api/inbox/threads/{thread_id}", "/api/shipping/carriers"):
        validate_mirakl(path, "GET", 200, _example(path, "get"))


def test_null_is_allowed_anywhere_but_shape_is_enforced():
    thread = _example("/api/inbox/threads/{thread_id}", "get")
    validate_mirakl("/api/inbox/threads/{thread_id}", "GET", 200,
                    {**thread, "metadata": {**thread["metadata"], "last_message_date": None}})
    with pytest.raises(OpenAPIValidationError) as info:
        validate_mirakl("/api/inbox/threads/{thread_id}", "GET", 200, {**thread, "id": 42})
    assert "id" in str(info.value)
    missing = {k: v for k, v in thread.items() if k != "metadata"}
    with pytest.raises(OpenAPIValidationError):
        validate_mirakl("/api/inbox/threads/{thread_id}", "GET", 200, missing)


def test_requests_and_body_less_answers():
    validate_mirakl("/api/orders/{order_id}/accept", "PUT", 204,
                    {"order_lines": [{"id": "1-A-1", "accepted": True}]}, kind="request")
    with pytest.raises(OpenAPIValidationError):
        validate_mirakl("/api/orders/{order_id}/accept", "PUT", 204, {"order_lines": [{"id": "1-A-1"}]},
                        kind="request")
    validate_mirakl("/api/orders/{order_id}/ship", "PUT", 204, None)
    with pytest.raises(OpenAPIValidationError):
        validate_mirakl("/api/orders/{order_id}/ship", "PUT", 204, {"unexpected": True})
    with pytest.raises(KeyError):
        validate_mirakl("/api/orders/{order_id}/ship", "PUT", 200, None)
    with pytest.raises(KeyError):
        validate_mirakl("/api/not/documented", "GET", 200, {})
