"""Typed records of Best Buy (Mirakl) payloads, and the parsers that make them.

Pure: no I/O, no hook, no store. The hook returns Mirakl's JSON as it came; the steps parse it here
to validate (a malformed order is reported, the rest go on) and the store saves the records. A
parser raises a ``ValueError`` subclass naming the object and what is wrong, so nothing is ever
stored half-empty.

- Orders (OR11): ``order_from_payload`` -> ``OrderRecord`` with its ``OrderLineRecord``s, or
  ``MalformedOrder``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from orderflow.timestamps import TimestampError, parse_timestamp


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
        return parse_timestamp(payload.get(key))
    except TimestampError as exc:
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


__all__ = ["MalformedOrder", "OrderLineRecord", "OrderRecord", "order_from_payload"]
