"""Mirakl sandbox, the inbox routes: M11 (list threads), M10 (a thread), M12 (reply) and OR43 (a new
thread about an order), on :class:`sandbox.mirakl.state.MiraklState`.

Bodies are validated against ``reference/mirakl-mmp-seller-openapi.json``; M11 pages with opaque
tokens (newest first, seek pagination both ways).
"""

from __future__ import annotations

import copy
from typing import Any

from sandbox.core import Request, Response, json_response
from sandbox.mirakl.orders import RouteTable
from sandbox.mirakl.render import thread_view
from sandbox.mirakl.state import MiraklState
from sandbox.mirakl.wire import (
    MiraklError,
    bool_param,
    csv_param,
    date_param,
    decode_token,
    encode_token,
    int_param,
    iso,
    multipart_json,
)
from sandbox.openapi import OpenAPIValidationError, validate_mirakl

M11_DEFAULT_LIMIT = 50
M11_MAX_LIMIT = 100  # (unconfirmed)
MAX_THREAD_MESSAGES = 1000


class InboxRoutes(MiraklState):
    """M10/M11/M12/OR43."""

    def inbox_routes(self) -> RouteTable:
        return [
            ("POST", ("api", "orders", "*", "threads"), "OR43", self.create_order_thread, "OR43"),
            ("GET", ("api", "inbox", "threads"), "M11", self.list_threads, "M11"),
            ("GET", ("api", "inbox", "threads", "*"), "M10", self.get_thread, "M10"),
            ("POST", ("api", "inbox", "threads", "*", "message"), "M12", self.reply_thread, "M12"),
        ]

    def list_threads(self, req: Request) -> Response:
        entity_type = req.param("entity_type")
        entity_ids = csv_param(req, "entity_id")
        if entity_ids is not None and not entity_type:
            raise MiraklError(400, "entity_type must be specified to filter on entity_id", "VALIDATION_ERROR")
        updated_since = date_param(req, "updated_since")
        with_messages = bool(bool_param(req, "with_messages"))
        limit = int_param(req, "limit", M11_DEFAULT_LIMIT)
        if not 1 <= limit <= M11_MAX_LIMIT:
            raise MiraklError(400, f"Invalid value for parameter limit: must be between 1 and {M11_MAX_LIMIT}",
                              "VALIDATION_ERROR")
        token = _decode_page_token(req.param("page_token"))
        with self.lock:
            self.settle()
            selected = []
            for thread in self.threads.values():
                entity = thread["entities"][0]
                if entity_type and entity["type"] != entity_type:
                    continue
                if entity_ids is not None and entity["id"] not in entity_ids:
                    continue
                if updated_since is not None and thread["_updated_ts"] < updated_since:
                    continue
                selected.append(thread)
            # Default sort: date updated, newest first (sheet §2), id as the tie-breaker.
            selected.sort(key=lambda t: (t["_updated_ts"], t["id"]), reverse=True)
            keys = [(t["_updated_ts"], t["id"]) for t in selected]
            if token is None:
                start = 0
            elif token["dir"] == "next":
                start = next((i for i, key in enumerate(keys) if key < token["key"]), len(keys))
            else:
                end = next((i for i, key in enumerate(keys) if key <= token["key"]), len(keys))
                start = max(0, end - limit)
            page = selected[start: start + limit]
            body: dict[str, Any] = {
                "data": [thread_view(t, with_messages, last=100) for t in page],
            }
            if page and start + limit < len(selected):
                body["next_page_token"] = _encode_page_token("next", keys[start + len(page) - 1])
            if page and start > 0:
                body["previous_page_token"] = _encode_page_token("prev", keys[start])
            return json_response(200, body)

    def get_thread(self, req: Request, thread_id: str) -> Response:
        with self.lock:
            self.settle()
            thread = self.threads.get(thread_id)
            if thread is None:
                raise MiraklError(404, f"Thread {thread_id} not found", "THREAD_NOT_FOUND")
            return json_response(200, thread_view(thread, with_messages=True))

    def reply_thread(self, req: Request, thread_id: str) -> Response:
        message_input = multipart_json(req, "message_input")
        try:
            validate_mirakl("/api/inbox/threads/{thread_id}/message", "POST", 201,
                            {"message_input": message_input}, kind="request")
        except OpenAPIValidationError as exc:
            raise MiraklError(400, "; ".join(exc.errors), "VALIDATION_ERROR") from exc
        recipients = message_input.get("to") or []
        with self.lock:
            self.settle()
            thread = self.threads.get(thread_id)
            if thread is None:
                raise MiraklError(404, f"Thread {thread_id} not found", "THREAD_NOT_FOUND")
            if len(thread["messages"]) >= MAX_THREAD_MESSAGES:
                raise MiraklError(400, f"A thread holds at most {MAX_THREAD_MESSAGES} messages", "VALIDATION_ERROR")
            to = []
            for recipient in recipients:
                kind, rid = recipient.get("type"), recipient.get("id")
                match = [p for p in thread["authorized_participants"]
                         if p["type"] == kind and (rid is None or p.get("id") == rid)]
                if kind == "SHOP" or not match:
                    # (unconfirmed) wording; a reply to someone outside the thread is refused.
                    raise MiraklError(400, f"Recipient {kind} {rid} is not a participant of thread {thread_id}",
                                      "VALIDATION_ERROR")
                to.append(copy.deepcopy(match[0]))
            if not to:
                raise MiraklError(400, "at least one recipient is required", "VALIDATION_ERROR")
            topic = message_input.get("topic")
            if isinstance(topic, dict) and topic.get("value"):
                thread["topic"] = {"type": topic.get("type") or "FREE_TEXT", "value": topic["value"]}
            msg_id = self._post_shop_message(thread, message_input["body"], to)
            return json_response(201, {"thread_id": thread_id, "message_id": msg_id})

    def _post_shop_message(self, thread: dict[str, Any], body: str, to: list[dict[str, Any]]) -> str:
        now = self.now()
        msg = {
            "id": self._uuid(),
            "body": body,
            "date_created": iso(now, millis=True),
            "from": {"type": "SHOP_USER", "display_name": "Orderflow",
                     "organization_details": {"type": "SHOP", "id": str(self.shop_id),
                                              "display_name": self.shop_name}},
            "to": to,
            "attachments": [],
        }
        self._append_message(thread, msg, now)
        thread["metadata"]["shop_reply_needed_since"] = None  # the shop has answered
        return msg["id"]

    def create_order_thread(self, req: Request, order_id: str) -> Response:
        thread_input = multipart_json(req, "thread_input")
        try:
            validate_mirakl("/api/orders/{order_id}/threads", "POST", 201, {"thread_input": thread_input},
                            kind="request")
        except OpenAPIValidationError as exc:
            raise MiraklError(400, "; ".join(exc.errors), "VALIDATION_ERROR") from exc
        recipients = thread_input.get("to") or []
        if not recipients or any(r not in ("CUSTOMER", "OPERATOR") for r in recipients):
            raise MiraklError(400, "to must list CUSTOMER and/or OPERATOR", "VALIDATION_ERROR")
        topic = thread_input.get("topic") or {}
        if topic.get("type") not in ("FREE_TEXT", "REASON_CODE") or not topic.get("value"):
            raise MiraklError(400, "topic needs a type (FREE_TEXT or REASON_CODE) and a value", "VALIDATION_ERROR")
        with self.lock:
            self.settle()
            record = self._record(order_id)
            now = self.now()
            thread = self._new_thread(record, topic["value"], now)
            thread["topic"] = {"type": topic["type"], "value": topic["value"]}
            to = [copy.deepcopy(p) for p in thread["authorized_participants"] if p["type"] in recipients]
            msg_id = self._post_shop_message(thread, thread_input["body"], to)
            return json_response(201, {"thread_id": thread["id"], "message_id": msg_id})



def _encode_page_token(direction: str, key: tuple[float, str]) -> str:
    return encode_token({"dir": direction, "ts": key[0], "id": key[1]})


def _decode_page_token(token: str | None) -> dict[str, Any] | None:
    if not token:
        return None
    data = decode_token(token)
    try:
        return {"dir": data["dir"], "key": (float(data["ts"]), str(data["id"]))}
    except (ValueError, KeyError, TypeError):
        raise MiraklError(400, "Invalid page_token", "VALIDATION_ERROR") from None
