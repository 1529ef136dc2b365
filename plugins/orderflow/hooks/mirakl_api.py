"""Mirakl seller API (Best Buy Canada Marketplace), the wire: request builders and response parsers.

Pure code, no I/O: builders turn arguments into a :class:`MiraklRequest` (method, path, query,
body) and parsers turn a status + body into results or a :class:`MiraklError`. The after-sale
operations' builders and parsers are beside, in :mod:`orderflow.hooks.mirakl_aftersale`; the error
tree is :mod:`orderflow.hooks.mirakl_errors`; the Connection's
settings are :mod:`orderflow.hooks.mirakl_settings`; the thin I/O layer is
:class:`orderflow.hooks.mirakl.MiraklHook`. Wire formats follow the published MMP seller OpenAPI
(``../shared/reference/mirakl-mmp-seller-openapi.json``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from orderflow.hooks.mirakl_errors import MiraklResponseError, MiraklValidationError

__all__ = [
    "MAX_THREAD_PAGES",
    "MESSAGE_BODY_MAX",
    "MESSAGE_BODY_MIN",
    "ORDERS_PAGE_SIZE",
    "ORDER_IDS_PER_REQUEST",
    "ORDER_STATES",
    "MiraklRequest",
    "OrdersPage",
    "PageTokens",
    "ThreadsPage",
    "build_accept_order",
    "build_create_order_thread",
    "build_get_thread",
    "build_list_carriers",
    "build_list_orders",
    "build_list_threads",
    "build_mark_shipped",
    "build_reply_to_thread",
    "build_set_tracking",
    "check_asked_for",
    "check_order_state",
    "format_datetime",
    "incomplete_sweep",
    "parse_carriers",
    "parse_json",
    "parse_message_created",
    "parse_orders_page",
    "parse_thread",
    "parse_threads_page",
    "state_filter",
]

ORDER_STATES = frozenset(
    {
        "STAGING",
        "WAITING_ACCEPTANCE",
        "WAITING_DEBIT",
        "WAITING_DEBIT_PAYMENT",
        "SHIPPING",
        "SHIPPED",
        "TO_COLLECT",
        "RECEIVED",
        "CLOSED",
        "REFUSED",
        "CANCELED",
    }
)

# Mirakl caps id-list query parameters at 100 values (answered 400 above that for commercial_ids;
# assumed the same for order_ids), and integrators page OR11 with max=100.
ORDER_IDS_PER_REQUEST = 100
ORDERS_PAGE_SIZE = 100
MESSAGE_BODY_MIN = 3
MESSAGE_BODY_MAX = 50_000


# ------------------------------------------------------------------------------------------------
# Requests
# ------------------------------------------------------------------------------------------------
_NO_BODY: Any = object()


@dataclass(frozen=True)
class MiraklRequest:
    """One HTTP call, fully described. ``path`` is already URL-encoded; ``path_template`` is the
    OpenAPI key (for validation and logs)."""

    operation: str
    method: str
    path_template: str
    path: str
    params: tuple[tuple[str, str], ...] = ()
    json_body: Any = _NO_BODY
    # multipart parts as (part name, JSON text): sent with content type application/json per part.
    multipart: tuple[tuple[str, str], ...] | None = None
    expected_statuses: tuple[int, ...] = (200,)
    # Safe to repeat after an ambiguous failure (the call may have been applied)? Only when the
    # builder says so: GETs and the PUTs that set state to a value (a repeat is harmless) do; a new
    # write builder that forgets to say is not re-sent (a duplicate message, refund or cancel is
    # worse than a retry later, after reading the other side).
    idempotent: bool = False

    @property
    def safe_to_repeat(self) -> bool:
        """Reads always are; a write only when its builder said ``idempotent=True``."""
        return self.method in ("GET", "HEAD") or self.idempotent

    @property
    def has_json_body(self) -> bool:
        return self.json_body is not _NO_BODY

    def query(self) -> dict[str, str]:
        return dict(self.params)

    def send_kwargs(self, shop_id: int | None, timeout: tuple[float, float]) -> dict[str, Any]:
        """``requests.Session.request`` keyword arguments for this call (never following redirects)."""
        params = self.query()
        if shop_id is not None:
            params["shop_id"] = str(shop_id)
        kwargs: dict[str, Any] = {"params": params, "timeout": timeout, "allow_redirects": False}
        if self.has_json_body:
            kwargs["json"] = self.json_body
        elif self.multipart is not None:
            # (filename None, content, content type): a form part carrying JSON, as Mirakl's cURL sample.
            kwargs["files"] = [(name, (None, text, "application/json")) for name, text in self.multipart]
        elif self.method in ("PUT", "POST"):
            # An explicit empty body makes requests send "Content-Length: 0" (Mirakl answers 411 without).
            kwargs["data"] = b""
        return kwargs


def format_datetime(value: datetime) -> str:
    """ISO-8601 UTC with ``Z`` (Mirakl's format). Naive datetimes are refused: ambiguity loses orders."""
    if not isinstance(value, datetime):
        raise MiraklValidationError(f"expected a datetime, got {type(value).__name__}")
    if value.tzinfo is None:
        raise MiraklValidationError("datetime must be timezone-aware (UTC), got a naive one")
    value = value.astimezone(UTC)
    if value.microsecond:
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _path_id(value: str, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise MiraklValidationError(f"{what} must be a non-empty string, got {value!r}")
    return quote(value, safe="")


def _normalise_states(states: str | Iterable[str] | None) -> list[str]:
    if states is None:
        return []
    items = [states] if isinstance(states, str) else list(states)
    for state in items:
        if state not in ORDER_STATES:
            raise MiraklValidationError(f"unknown Mirakl order state {state!r}")
    return items


def build_list_orders(
    *,
    order_ids: Sequence[str] | None = None,
    states: str | Iterable[str] | None = None,
    updated_since: datetime | None = None,
    updated_until: datetime | None = None,
    offset: int = 0,
    page_size: int = ORDERS_PAGE_SIZE,
) -> MiraklRequest:
    """OR11 ``GET /api/orders`` for one page. ``order_ids`` must already be a chunk of <= 100."""
    params: list[tuple[str, str]] = []
    if order_ids is not None:
        ids = list(order_ids)
        if not ids or len(ids) > ORDER_IDS_PER_REQUEST:
            raise MiraklValidationError(f"order_ids chunk must hold 1..{ORDER_IDS_PER_REQUEST} ids, got {len(ids)}")
        for oid in ids:
            if not isinstance(oid, str) or not oid or "," in oid:
                raise MiraklValidationError(f"invalid order id {oid!r}")
        params.append(("order_ids", ",".join(ids)))
    state_list = _normalise_states(states)
    if state_list:
        params.append(("order_state_codes", ",".join(state_list)))
    if updated_since is not None:
        params.append(("start_update_date", format_datetime(updated_since)))
    if updated_until is not None:
        params.append(("end_update_date", format_datetime(updated_until)))
    # Pagination params are documented in the OpenAPI's shared "offset pagination" section, not per
    # operation. sort=dateCreated asc keeps pages stable while orders get updated during a sweep.
    params += [
        ("paginate", "true"),
        ("max", str(page_size)),
        ("offset", str(offset)),
        ("sort", "dateCreated"),
        ("order", "asc"),
    ]
    return MiraklRequest("OR11", "GET", "/api/orders", "/api/orders", tuple(params))


def build_accept_order(order_id: str, line_ids: Sequence[str], accepted: bool = True) -> MiraklRequest:
    """OR21 ``PUT /api/orders/{order_id}/accept``: every line, one decision (Mirakl wants all lines)."""
    if isinstance(line_ids, str):
        raise MiraklValidationError("line_ids must be a list of order line ids, not a string")
    ids = list(line_ids)
    if not ids:
        raise MiraklValidationError(f"order {order_id}: no order lines to accept or refuse")
    if len(set(ids)) != len(ids):
        raise MiraklValidationError(f"order {order_id}: duplicate order line ids")
    for line_id in ids:
        if not isinstance(line_id, str) or not line_id:
            raise MiraklValidationError(f"order {order_id}: invalid order line id {line_id!r}")
    body = {"order_lines": [{"accepted": bool(accepted), "id": line_id} for line_id in ids]}
    return MiraklRequest(
        "OR21",
        "PUT",
        "/api/orders/{order_id}/accept",
        f"/api/orders/{_path_id(order_id, 'order_id')}/accept",
        json_body=body,
        expected_statuses=(204, 200),
        idempotent=True,  # sets a state to a value: a repeat is harmless (or ORDER_INVALID_STATE, settled)
    )


def build_set_tracking(
    order_id: str,
    carrier_code: str | None,
    tracking_number: str,
    carrier_name: str | None = None,
    carrier_url: str | None = None,
) -> MiraklRequest:
    """OR23 ``PUT /api/orders/{order_id}/tracking``.

    Registered carrier (e.g. ``CPCL`` = Canada Post on Best Buy CA): ``carrier_code`` + number, the
    URL is computed by Mirakl from SH21. Unregistered: ``carrier_name`` (+ optional ``carrier_url``).
    """
    if not tracking_number or not isinstance(tracking_number, str):
        raise MiraklValidationError(f"order {order_id}: tracking_number is required")
    if not carrier_code and not carrier_name:
        raise MiraklValidationError(f"order {order_id}: carrier_code or carrier_name is required")
    body: dict[str, str] = {"tracking_number": tracking_number}
    if carrier_code:
        body["carrier_code"] = carrier_code
    if carrier_name:
        body["carrier_name"] = carrier_name
    if carrier_url:
        body["carrier_url"] = carrier_url
    return MiraklRequest(
        "OR23",
        "PUT",
        "/api/orders/{order_id}/tracking",
        f"/api/orders/{_path_id(order_id, 'order_id')}/tracking",
        json_body=body,
        expected_statuses=(204, 200),
        idempotent=True,  # sets a state to a value: a repeat is harmless (or ORDER_INVALID_STATE, settled)
    )


def build_mark_shipped(order_id: str) -> MiraklRequest:
    """OR24 ``PUT /api/orders/{order_id}/ship``: no body, sent with ``Content-Length: 0`` (avoids 411)."""
    return MiraklRequest(
        "OR24",
        "PUT",
        "/api/orders/{order_id}/ship",
        f"/api/orders/{_path_id(order_id, 'order_id')}/ship",
        expected_statuses=(204, 200),
        idempotent=True,  # sets a state to a value: a repeat is harmless (or ORDER_INVALID_STATE, settled)
    )


def build_list_carriers() -> MiraklRequest:
    """SH21 ``GET /api/shipping/carriers``."""
    return MiraklRequest("SH21", "GET", "/api/shipping/carriers", "/api/shipping/carriers")


def build_list_threads(
    *,
    updated_since: datetime | None = None,
    entity_ids: Sequence[str] | None = None,
    entity_type: str = "MMP_ORDER",
    with_messages: bool = False,
    page_token: str | None = None,
    limit: int | None = None,
) -> MiraklRequest:
    """M11 ``GET /api/inbox/threads`` (one page; seek pagination by ``page_token``)."""
    params: list[tuple[str, str]] = []
    if entity_ids:
        # entity_id without entity_type is a 400 per the OpenAPI.
        params.append(("entity_type", entity_type))
        params.append(("entity_id", ",".join(entity_ids)))
    if updated_since is not None:
        params.append(("updated_since", format_datetime(updated_since)))
    if with_messages:
        params.append(("with_messages", "true"))
    if limit is not None:
        params.append(("limit", str(limit)))
    if page_token:
        params.append(("page_token", page_token))
    return MiraklRequest("M11", "GET", "/api/inbox/threads", "/api/inbox/threads", tuple(params))


def build_get_thread(thread_id: str) -> MiraklRequest:
    """M10 ``GET /api/inbox/threads/{thread_id}``."""
    return MiraklRequest(
        "M10",
        "GET",
        "/api/inbox/threads/{thread_id}",
        f"/api/inbox/threads/{_path_id(thread_id, 'thread_id')}",
    )


def _check_message_body(body: str) -> None:
    if not isinstance(body, str):
        raise MiraklValidationError("message body must be a string")
    if not MESSAGE_BODY_MIN <= len(body) <= MESSAGE_BODY_MAX:
        raise MiraklValidationError(
            f"message body must be {MESSAGE_BODY_MIN}..{MESSAGE_BODY_MAX} characters, got {len(body)}"
        )


def build_reply_to_thread(thread_id: str, body: str, customer_id: str) -> MiraklRequest:
    """M12 ``POST /api/inbox/threads/{thread_id}/message``: multipart part ``message_input`` (JSON)."""
    _check_message_body(body)
    if not customer_id or not isinstance(customer_id, str):
        raise MiraklValidationError(f"thread {thread_id}: customer_id is required to address a reply")
    message_input = {"body": body, "to": [{"type": "CUSTOMER", "id": customer_id}]}
    return MiraklRequest(
        "M12",
        "POST",
        "/api/inbox/threads/{thread_id}/message",
        f"/api/inbox/threads/{_path_id(thread_id, 'thread_id')}/message",
        multipart=(("message_input", json.dumps(message_input, ensure_ascii=False)),),
        expected_statuses=(201, 200),
        idempotent=False,
    )


def build_create_order_thread(
    order_id: str, body: str, topic: str | Mapping[str, str], to: Sequence[str] = ("CUSTOMER",)
) -> MiraklRequest:
    """OR43 ``POST /api/orders/{order_id}/threads``: multipart part ``thread_input`` (JSON).

    ``topic`` is free text, or a mapping ``{"type": "FREE_TEXT"|"REASON_CODE", "value": ...}``.
    """
    _check_message_body(body)
    if isinstance(topic, str):
        if not topic.strip():
            raise MiraklValidationError(f"order {order_id}: thread topic must not be empty")
        topic_obj = {"type": "FREE_TEXT", "value": topic}
    else:
        topic_obj = dict(topic)
        if topic_obj.get("type") not in ("FREE_TEXT", "REASON_CODE") or not topic_obj.get("value"):
            raise MiraklValidationError(f"order {order_id}: topic needs type FREE_TEXT|REASON_CODE and a value")
    recipients = list(to)
    for recipient in recipients:
        if recipient not in ("CUSTOMER", "OPERATOR", "SHOP"):
            raise MiraklValidationError(f"order {order_id}: unknown recipient {recipient!r}")
    thread_input = {"body": body, "to": recipients, "topic": topic_obj}
    return MiraklRequest(
        "OR43",
        "POST",
        "/api/orders/{order_id}/threads",
        f"/api/orders/{_path_id(order_id, 'order_id')}/threads",
        multipart=(("thread_input", json.dumps(thread_input, ensure_ascii=False)),),
        expected_statuses=(201, 200),
        idempotent=False,
    )


# ------------------------------------------------------------------------------------------------
# Pagination guards: what a sweep must refuse to believe (the hook's loops call them)
# ------------------------------------------------------------------------------------------------
# Seek pagination guard: a server that keeps returning the same token would loop forever.
MAX_THREAD_PAGES = 1000


class PageTokens:
    """The page tokens one seek-paginated sweep (M11, RT11) has followed: a token seen twice is a loop."""

    def __init__(self, operation: str) -> None:
        self.operation = operation
        self.seen: set[str] = set()

    def follow(self, token: str) -> None:
        if token in self.seen:
            raise MiraklResponseError(
                f"{self.operation} returned a page token it already returned (pagination loop)",
                operation=self.operation,
                status=200,
            )
        self.seen.add(token)

    def too_many(self) -> MiraklResponseError:
        return MiraklResponseError(
            f"{self.operation} returned more than {MAX_THREAD_PAGES} pages", operation=self.operation, status=200
        )


def state_filter(states: str | Sequence[str] | None) -> set[str] | None:
    """The order states an OR11 call asked for (None: any)."""
    return None if states is None else ({states} if isinstance(states, str) else set(states))


def check_order_state(order: dict[str, Any], wanted: set[str] | None) -> None:
    """A server that ignores the state filter would make us act on orders in the wrong state."""
    if wanted is not None and order["order_state"] not in wanted:
        raise MiraklResponseError(
            f"OR11 returned order {order['order_id']} in state {order['order_state']} "
            f"outside the requested states {sorted(wanted)}",
            operation="OR11",
            status=200,
        )


def check_asked_for(order: dict[str, Any], order_ids: set[str]) -> None:
    """An OR11 look-up by ids must answer only the ids it was asked."""
    if order["order_id"] not in order_ids:
        raise MiraklResponseError(
            f"OR11 returned order {order['order_id']} that was not asked for", operation="OR11", status=200
        )


def incomplete_sweep(offset: int, total_count: int, status: int, request_id: str | None) -> MiraklResponseError:
    """An empty OR11 page before ``total_count``: the orders not seen may be exactly the ones a caller
    must not skip (ingest moves its watermark to the newest order it saw). An incomplete sweep is an
    error the caller sees, never a shorter result; a later try sweeps again from the same point."""
    return MiraklResponseError(
        f"OR11 sweep incomplete: empty page at offset {offset} before total_count "
        f"{total_count}; results discarded, sweep again",
        operation="OR11",
        status=status,
        request_id=request_id,
    )


# ------------------------------------------------------------------------------------------------
# Parsers
# ------------------------------------------------------------------------------------------------
def _bad_body(
    operation: str, status: int, why: str, text: str | None, request_id: str | None = None
) -> MiraklResponseError:
    return MiraklResponseError(
        f"malformed response body: {why}",
        operation=operation,
        status=status,
        request_id=request_id,
        body=text[:10_000] if text else text,
    )


def parse_json(operation: str, status: int, text: str, request_id: str | None = None) -> Any:
    if text is None or not text.strip():
        raise _bad_body(operation, status, "empty body where JSON was expected", text, request_id)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise _bad_body(operation, status, f"not JSON ({exc.msg} at char {exc.pos})", text, request_id) from None
    except ValueError as exc:  # also from json.loads, e.g. an integer over Python's 4,300-digit limit
        raise _bad_body(operation, status, f"not JSON ({exc})", text, request_id) from None


@dataclass(frozen=True)
class OrdersPage:
    orders: list[dict[str, Any]]
    total_count: int


def parse_orders_page(status: int, text: str, request_id: str | None = None) -> OrdersPage:
    """OR11 200 body ``{"orders": [...], "total_count": n}``; every order needs ``order_id`` and a state."""
    payload = parse_json("OR11", status, text, request_id)
    if not isinstance(payload, dict):
        raise _bad_body("OR11", status, f"expected an object, got {type(payload).__name__}", text, request_id)
    orders = payload.get("orders")
    if not isinstance(orders, list):
        raise _bad_body("OR11", status, "'orders' list missing", text, request_id)
    total = payload.get("total_count")
    if isinstance(total, bool) or not isinstance(total, int) or total < 0:
        raise _bad_body("OR11", status, "'total_count' missing or not a non-negative integer", text, request_id)
    for index, order in enumerate(orders):
        if not isinstance(order, dict):
            raise _bad_body("OR11", status, f"orders[{index}] is not an object", text, request_id)
        if not isinstance(order.get("order_id"), str) or not order["order_id"]:
            raise _bad_body("OR11", status, f"orders[{index}] has no order_id", text, request_id)
        if not isinstance(order.get("order_state"), str):
            raise _bad_body("OR11", status, f"order {order['order_id']} has no order_state", text, request_id)
        lines = order.get("order_lines")
        if lines is not None and not isinstance(lines, list):
            raise _bad_body("OR11", status, f"order {order['order_id']}: order_lines is not a list", text, request_id)
    return OrdersPage(orders=orders, total_count=total)


def parse_carriers(status: int, text: str, request_id: str | None = None) -> list[dict[str, Any]]:
    """SH21 200 body ``{"carriers": [{code, label, standard_code, tracking_url}]}``."""
    payload = parse_json("SH21", status, text, request_id)
    carriers = payload.get("carriers") if isinstance(payload, dict) else None
    if not isinstance(carriers, list):
        raise _bad_body("SH21", status, "'carriers' list missing", text, request_id)
    for index, carrier in enumerate(carriers):
        if not isinstance(carrier, dict) or not isinstance(carrier.get("code"), str):
            raise _bad_body("SH21", status, f"carriers[{index}] has no code", text, request_id)
    return carriers


@dataclass(frozen=True)
class ThreadsPage:
    threads: list[dict[str, Any]]
    next_page_token: str | None


def _check_thread(operation: str, status: int, thread: Any, where: str, text: str, request_id: str | None) -> None:
    if not isinstance(thread, dict) or not isinstance(thread.get("id"), str) or not thread["id"]:
        raise _bad_body(operation, status, f"{where} has no thread id", text, request_id)
    messages = thread.get("messages")
    if messages is not None and not isinstance(messages, list):
        raise _bad_body(operation, status, f"{where}: messages is not a list", text, request_id)


def parse_threads_page(status: int, text: str, request_id: str | None = None) -> ThreadsPage:
    """M11 200 body ``{"data": [thread], "next_page_token"?: str}``."""
    payload = parse_json("M11", status, text, request_id)
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, list):
        raise _bad_body("M11", status, "'data' list missing", text, request_id)
    for index, thread in enumerate(data):
        _check_thread("M11", status, thread, f"data[{index}]", text, request_id)
    token = payload.get("next_page_token")
    if token is not None and not isinstance(token, str):
        raise _bad_body("M11", status, "next_page_token is not a string", text, request_id)
    return ThreadsPage(threads=data, next_page_token=token or None)


def parse_thread(status: int, text: str, request_id: str | None = None) -> dict[str, Any]:
    """M10 200 body: one thread with its ``messages``."""
    payload = parse_json("M10", status, text, request_id)
    _check_thread("M10", status, payload, "thread", text, request_id)
    thread: dict[str, Any] = payload  # _check_thread refused anything but an object with an id
    return thread


def parse_message_created(operation: str, status: int, text: str, request_id: str | None = None) -> dict[str, str]:
    """M12/OR43 201 body ``{"thread_id": ..., "message_id": ...}``."""
    payload = parse_json(operation, status, text, request_id)
    if not isinstance(payload, dict):
        raise _bad_body(operation, status, "expected an object", text, request_id)
    for key in ("thread_id", "message_id"):
        if not isinstance(payload.get(key), str) or not payload[key]:
            raise _bad_body(operation, status, f"'{key}' missing", text, request_id)
    return {"thread_id": payload["thread_id"], "message_id": payload["message_id"]}
