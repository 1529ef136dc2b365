"""Typed records of Best Buy (Mirakl) payloads, and the parsers that make them.

Pure: no I/O, no hook, no store. The hook returns Mirakl's JSON as it came; the steps parse it here
to validate (a malformed order is reported, the rest go on) and the store saves the records. A
parser raises a ``ValueError`` subclass naming the object and what is wrong, so nothing is ever
stored half-empty.

- Orders (OR11): ``order_from_payload`` -> ``OrderRecord`` with its ``OrderLineRecord``s, or
  ``MalformedOrder``.
- Threads (M10/M11 JSON): ``thread_from_payload`` -> ``ThreadRecord`` with its ``MessageRecord``s, or
  ``MalformedThread`` naming the thread and what is wrong (sync reports it, stores the rest). Bodies
  are kept byte-exact: HTML, scripts, emoji, 10 kB complaints are data, escaped only when a page
  displays them.
- Returns (RT11): ``return_from_payload`` -> ``ReturnRecord``, or ``MalformedReturn`` (the RT11 page
  parser, ``orderflow.hooks.mirakl_aftersale.parse_returns_page``, refuses a page holding one).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, overload

from orderflow import timestamps


# ----------------------------------------------------------------------------------------------
# Orders (OR11)
# ----------------------------------------------------------------------------------------------
class MalformedOrder(ValueError):
    """An OR11 order we cannot store faithfully; the message names the order and what is wrong."""

    def __init__(self, order_id: str | None, message: str) -> None:
        self.order_id = order_id
        super().__init__(message)


@dataclass(frozen=True)
class OrderLineRecord:
    order_line_id: str
    order_id: str
    line_index: int
    offer_sku: str | None
    product_sku: str | None
    product_title: str | None
    quantity: int
    price_unit: Decimal | None
    price: Decimal | None
    shipping_price: Decimal | None
    total_price: Decimal | None
    state: str | None  # Mirakl's order_line_state
    raw: Mapping[str, Any]


@dataclass(frozen=True)
class OrderRecord:
    order_id: str
    commercial_id: str | None
    mirakl_state: str | None
    created_at: datetime
    last_updated_at: datetime | None
    shipping_deadline: datetime | None
    leadtime_to_ship: Any  # kept as Mirakl sent it (an integer of days in practice)
    customer_id: str | None
    customer_firstname: str | None
    customer_lastname: str | None
    shipping_address: Mapping[str, Any] | None  # None: Best Buy did not show it (the store keeps the last one)
    shipping_city: str | None
    shipping_state: str | None
    shipping_zip: str | None
    shipping_country: str | None
    price: Decimal | None
    shipping_price: Decimal | None
    total_price: Decimal | None
    currency: str
    raw: Mapping[str, Any]
    lines: tuple[OrderLineRecord, ...]


def order_from_payload(payload: Mapping[str, Any]) -> OrderRecord:
    """Validate and type one Mirakl OR11 order. Raises ``MalformedOrder``.

    Refused: no ``order_id`` (or not text), no ``created_date``, a date that is not a Mirakl
    date-time (``orderflow.timestamps``: a zone is required), an amount that is not a number, a
    customer or address that is not an object, a line without ``order_line_id`` or without a
    positive integer ``quantity``.
    """
    if not isinstance(payload, Mapping):
        raise MalformedOrder(None, f"Mirakl order is not an object ({type(payload).__name__})")
    order_id = payload.get("order_id")
    if not order_id or not isinstance(order_id, str):
        raise MalformedOrder(None, "Mirakl order without an order_id")
    created = _date(payload, "created_date", order_id)
    if created is None:
        raise MalformedOrder(order_id, f"Mirakl order {order_id} without created_date")
    customer = _object(payload.get("customer"), "customer", order_id) or {}
    address = _object(customer.get("shipping_address"), "customer.shipping_address", order_id) or None
    lines = payload.get("order_lines") or []
    if not isinstance(lines, list):
        raise MalformedOrder(order_id, f"Mirakl order {order_id}: order_lines is not a list")
    return OrderRecord(
        order_id=order_id,
        commercial_id=payload.get("commercial_id"),
        mirakl_state=payload.get("order_state"),
        created_at=created,
        last_updated_at=_date(payload, "last_updated_date", order_id),
        shipping_deadline=_date(payload, "shipping_deadline", order_id),
        leadtime_to_ship=payload.get("leadtime_to_ship"),
        customer_id=customer.get("customer_id"),
        customer_firstname=customer.get("firstname"),
        customer_lastname=customer.get("lastname"),
        shipping_address=address,
        shipping_city=(address or {}).get("city"),
        shipping_state=(address or {}).get("state"),
        shipping_zip=(address or {}).get("zip_code"),
        shipping_country=(address or {}).get("country_iso_code") or (address or {}).get("country"),
        price=_money(payload, "price", order_id),
        shipping_price=_money(payload, "shipping_price", order_id),
        total_price=_money(payload, "total_price", order_id),
        currency=payload.get("currency_iso_code") or "CAD",
        raw=payload,
        lines=tuple(_line(order_id, index, line) for index, line in enumerate(lines, start=1)),
    )


def _line(order_id: str, index: int, line: Any) -> OrderLineRecord:
    if not isinstance(line, Mapping):
        raise MalformedOrder(order_id, f"Mirakl order {order_id}: malformed order line {line!r:.40}")
    line_id = line.get("order_line_id")
    quantity = line.get("quantity")
    if not line_id or not isinstance(quantity, int) or quantity <= 0:
        raise MalformedOrder(order_id, f"Mirakl order {order_id}: malformed order line {line_id!r}")
    where = f"line {line_id}"
    return OrderLineRecord(
        order_line_id=line_id,
        order_id=order_id,
        line_index=line.get("order_line_index", index),
        offer_sku=line.get("offer_sku"),
        product_sku=line.get("product_sku"),
        product_title=line.get("product_title"),
        quantity=quantity,
        price_unit=_money(line, "price_unit", order_id, where),
        price=_money(line, "price", order_id, where),
        shipping_price=_money(line, "shipping_price", order_id, where),
        total_price=_money(line, "total_price", order_id, where),
        state=line.get("order_line_state"),
        raw=line,
    )


def _date(payload: Mapping[str, Any], key: str, order_id: str) -> datetime | None:
    try:
        return timestamps.parse_timestamp(payload.get(key))
    except timestamps.TimestampError as exc:
        raise MalformedOrder(order_id, f"Mirakl order {order_id}: {key} {exc.reason}") from None


def _money(payload: Mapping[str, Any], key: str, order_id: str, where: str | None = None) -> Decimal | None:
    value = payload.get(key)
    if value is None or value == "":
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        amount = None
    if amount is None or isinstance(value, bool) or not amount.is_finite():
        field = f"{where} {key}" if where else key
        raise MalformedOrder(order_id, f"Mirakl order {order_id}: {field} is not an amount: {value!r:.40}")
    return amount


def _object(value: Any, what: str, order_id: str) -> Mapping[str, Any] | None:
    if value is None or isinstance(value, Mapping):
        return value
    if not value:  # "" or [] meant "none" to the former parser: keep reading them so
        return None
    raise MalformedOrder(order_id, f"Mirakl order {order_id}: {what} is not an object")


# ----------------------------------------------------------------------------------------------
# Threads (M10 / M11)
# ----------------------------------------------------------------------------------------------
# Mirakl's message author types (from.type) -> our sender_type. The bare participant types are
# accepted too: clients must tolerate variants (sheet §1), and they mean the same party.
SENDER_TYPES: dict[str, str] = {
    "CUSTOMER_USER": "CUSTOMER",
    "SHOP_USER": "SHOP",
    "OPERATOR_USER": "OPERATOR",
    "CUSTOMER": "CUSTOMER",
    "SHOP": "SHOP",
    "OPERATOR": "OPERATOR",
}

class MalformedThread(ValueError):
    """A thread payload we cannot store faithfully. ``thread_id`` may be None (no usable id)."""

    def __init__(self, thread_id: str | None, reason: str) -> None:
        self.thread_id = thread_id
        self.reason = reason
        super().__init__(f"thread {thread_id or '<no id>'}: {reason}")


@dataclass(frozen=True)
class MessageRecord:
    mirakl_message_id: str
    sender_type: str
    sender_name: str | None
    body: str
    sent_at: datetime
    raw: Mapping[str, Any]


@dataclass(frozen=True)
class ThreadRecord:
    thread_id: str
    order_id: str | None
    customer_id: str | None
    customer_name: str | None
    topic: str | None
    date_updated: datetime
    last_message_at: datetime | None
    last_sender_type: str | None
    reply_needed_since: datetime | None
    message_count: int | None          # Mirakl's metadata.total_count
    raw: Mapping[str, Any]             # the thread without its messages
    messages: tuple[MessageRecord, ...] | None  # None: the payload carried no messages

    @property
    def complete(self) -> bool:
        """True when the payload holds every message of the thread (M11 keeps only the last 100)."""
        if self.messages is None:
            return False
        return self.message_count is None or len(self.messages) >= self.message_count


@overload
def parse_timestamp(value: Any, what: str, thread_id: str | None, *, required: Literal[True] = True) -> datetime: ...
@overload
def parse_timestamp(value: Any, what: str, thread_id: str | None, *, required: bool) -> datetime | None: ...
def parse_timestamp(value: Any, what: str, thread_id: str | None, *, required: bool = True) -> datetime | None:
    """A thread's date ``what`` (``orderflow.timestamps``' rule: a zone required, returned in UTC); a bad
    or (``required``) missing one is a ``MalformedThread``."""
    try:
        return timestamps.require_timestamp(value) if required else timestamps.parse_timestamp(value)
    except timestamps.TimestampError as exc:
        raise MalformedThread(thread_id, f"{what} {exc.reason}") from None


def _sender_type(raw_type: Any, thread_id: str, where: str) -> str:
    mapped = SENDER_TYPES.get(raw_type) if isinstance(raw_type, str) else None
    if mapped is None:
        raise MalformedThread(thread_id, f"{where}: unknown sender type {raw_type!r}")
    return mapped


def _message_from_payload(thread_id: str, index: int, payload: Any) -> MessageRecord:
    where = f"messages[{index}]"
    if not isinstance(payload, dict):
        raise MalformedThread(thread_id, f"{where} is not an object")
    message_id = payload.get("id")
    if not isinstance(message_id, str) or not message_id:
        raise MalformedThread(thread_id, f"{where} has no id")
    body = payload.get("body")
    if not isinstance(body, str):
        raise MalformedThread(thread_id, f"message {message_id} has no text body")
    sender = payload.get("from")
    if not isinstance(sender, dict):
        raise MalformedThread(thread_id, f"message {message_id} has no sender ('from')")
    sender_type = _sender_type(sender.get("type"), thread_id, f"message {message_id}")
    sent_at = parse_timestamp(payload.get("date_created"), f"message {message_id} date_created", thread_id)
    name = sender.get("display_name")
    return MessageRecord(
        mirakl_message_id=message_id,
        sender_type=sender_type,
        sender_name=name if isinstance(name, str) else None,
        body=body,
        sent_at=sent_at,
        raw=payload,
    )


def thread_from_payload(payload: Any) -> ThreadRecord:
    """Validate and flatten one Mirakl thread. Raises ``MalformedThread``."""
    if not isinstance(payload, dict):
        raise MalformedThread(None, f"thread is not an object ({type(payload).__name__})")
    thread_id = payload.get("id")
    if not isinstance(thread_id, str) or not thread_id:
        raise MalformedThread(None, "thread has no id")

    order_id = None
    entities = payload.get("entities") or []
    if not isinstance(entities, list):
        raise MalformedThread(thread_id, "entities is not a list")
    for entity in entities:
        if isinstance(entity, dict) and entity.get("type") == "MMP_ORDER" and isinstance(entity.get("id"), str):
            order_id = entity["id"]
            break

    customer_id = customer_name = None
    for key in ("current_participants", "authorized_participants"):
        participants = payload.get(key) or []
        if not isinstance(participants, list):
            raise MalformedThread(thread_id, f"{key} is not a list")
        for participant in participants:
            if isinstance(participant, dict) and participant.get("type") == "CUSTOMER" and participant.get("id"):
                customer_id = str(participant["id"])
                name = participant.get("display_name")
                customer_name = name if isinstance(name, str) else None
                break
        if customer_id:
            break

    topic_obj = payload.get("topic")
    topic = None
    if isinstance(topic_obj, dict) and topic_obj.get("value") is not None:
        topic = str(topic_obj["value"])
    elif isinstance(topic_obj, str):
        topic = topic_obj

    metadata = payload.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise MalformedThread(thread_id, "metadata is not an object")
    reply_needed_since = parse_timestamp(
        metadata.get("shop_reply_needed_since"), "metadata.shop_reply_needed_since", thread_id, required=False
    )
    count = metadata.get("total_count")
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 0):
        raise MalformedThread(thread_id, f"metadata.total_count is not a count: {count!r}")

    messages: tuple[MessageRecord, ...] | None = None
    raw_messages = payload.get("messages")
    if raw_messages is not None:
        if not isinstance(raw_messages, list):
            raise MalformedThread(thread_id, "messages is not a list")
        messages = tuple(_message_from_payload(thread_id, i, m) for i, m in enumerate(raw_messages))

    date_updated = parse_timestamp(
        payload.get("date_updated") or payload.get("date_created"), "date_updated", thread_id
    )
    last_message_at = parse_timestamp(
        metadata.get("last_message_date"), "metadata.last_message_date", thread_id, required=False
    )
    last_sender_type = None
    last_sender = metadata.get("last_sender")
    if isinstance(last_sender, dict) and last_sender.get("type") is not None:
        last_sender_type = _sender_type(last_sender.get("type"), thread_id, "metadata.last_sender")
    if messages:
        latest = max(messages, key=lambda m: m.sent_at)
        if last_message_at is None or latest.sent_at > last_message_at:
            last_message_at = latest.sent_at
            last_sender_type = latest.sender_type

    raw = {k: v for k, v in payload.items() if k != "messages"}
    return ThreadRecord(
        thread_id=thread_id,
        order_id=order_id,
        customer_id=customer_id,
        customer_name=customer_name,
        topic=topic,
        date_updated=date_updated,
        last_message_at=last_message_at,
        last_sender_type=last_sender_type,
        reply_needed_since=reply_needed_since,
        message_count=count,
        raw=raw,
        messages=messages,
    )


# ----------------------------------------------------------------------------------------------
# Returns (RT11)
# ----------------------------------------------------------------------------------------------
class MalformedReturn(ValueError):
    """An RT11 return we cannot store; ``return_id`` is None when it has no usable id."""

    def __init__(self, return_id: str | None, message: str) -> None:
        self.return_id = return_id
        super().__init__(message)


@dataclass(frozen=True)
class ReturnRecord:
    return_id: str
    order_id: str
    commercial_id: str | None  # Mirakl's order_commercial_id
    state: str                 # lifecycle.MiraklReturnState, as Best Buy sent it
    method_code: str | None
    rma: str | None
    tracking_pin: str | None   # tracking.tracking_number
    reason_code: str | None
    return_lines: tuple[Mapping[str, Any], ...]
    # Best Buy's dates, kept as Mirakl sent them (PostgreSQL reads them as timestamptz; the sync's
    # watermark takes the newest last_updated through orderflow.timestamps).
    date_created: Any
    last_updated: Any
    raw: Mapping[str, Any]


def return_from_payload(payload: Any) -> ReturnRecord:
    """Validate and type one Mirakl RT11 return. Raises ``MalformedReturn``.

    Refused: not an object, no ``id`` (or not text), an ``order_id`` or ``state`` that is not text,
    ``return_lines`` that is not a list.
    """
    if not isinstance(payload, Mapping):
        raise MalformedReturn(None, f"Mirakl return is not an object ({type(payload).__name__})")
    return_id = payload.get("id")
    if not isinstance(return_id, str) or not return_id:
        raise MalformedReturn(None, "Mirakl return without an id")
    order_id, state = payload.get("order_id"), payload.get("state")
    if not isinstance(order_id, str) or not isinstance(state, str):
        raise MalformedReturn(return_id, f"return {return_id} has no order_id or state")
    lines = payload.get("return_lines")
    if not isinstance(lines, list):
        raise MalformedReturn(return_id, f"return {return_id} has no return_lines")
    # A tracking block that is no object carries no PIN; the return itself is still good (refusing it
    # would fail a read-back after Best Buy already applied RT25/26/27).
    raw_tracking = payload.get("tracking")
    tracking: Mapping[str, Any] = raw_tracking if isinstance(raw_tracking, Mapping) else {}
    return ReturnRecord(
        return_id=return_id,
        order_id=order_id,
        commercial_id=payload.get("order_commercial_id"),
        state=state,
        method_code=payload.get("method_code"),
        rma=payload.get("rma"),
        tracking_pin=tracking.get("tracking_number") or None,
        reason_code=payload.get("reason_code"),
        return_lines=tuple(lines),
        date_created=payload.get("date_created"),
        last_updated=payload.get("last_updated"),
        raw=payload,
    )


__all__ = [
    "SENDER_TYPES",
    "MalformedOrder",
    "MalformedReturn",
    "MalformedThread",
    "MessageRecord",
    "OrderLineRecord",
    "OrderRecord",
    "ReturnRecord",
    "ThreadRecord",
    "order_from_payload",
    "parse_timestamp",
    "return_from_payload",
    "thread_from_payload",
]
