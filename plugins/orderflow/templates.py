"""Reply templates: plain-text rendering with order-aware placeholders (pure, no I/O).

Templates are rows a seller edits (``reply_templates``), so rendering must never crash on what a
person typed: ``{placeholder}`` names we know are replaced, unknown ones and stray braces are
left exactly as written (visible in the message, so the seller notices the typo), and values are
inserted as plain text (they are never re-parsed as template syntax). Messages are plain text:
no HTML escaping happens here; pages escape at display time.

Public API:
- ``KNOWN_PLACEHOLDERS``: the names a template may use.
- ``render(template, context)``: fill placeholders.
- ``placeholders(template)`` / ``unknown_placeholders(template)``: what a template uses.
- ``order_context(...)``: build the context for one conversation from store rows.
- ``describe_order_status(status)``: the customer-facing wording of an internal status.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from orderflow import lifecycle

__all__ = [
    "KNOWN_PLACEHOLDERS",
    "describe_order_status",
    "order_context",
    "placeholders",
    "render",
    "unknown_placeholders",
]

KNOWN_PLACEHOLDERS: frozenset[str] = frozenset(
    {
        "customer_name",
        "order_id",
        "order_status",
        "tracking_number",
        "tracking_url",
        "tracking_sentence",
        "expected_ship_date",
        "shop_name",
    }
)

# {name} with a simple identifier inside; anything else ("{ }", "{{7*7}}", "${x}") is not ours.
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")

# What a customer reads for each internal status (orderflow.status). Unknown or failure states
# read as "being processed": a customer must not learn about our internal failures from a bot.
_STATUS_WORDING: dict[str, str] = {
    "pending_acceptance": "received and awaiting confirmation",
    "accepted": "confirmed and being prepared for shipping",
    "label_created": "being prepared for shipping",
    "packed": "packed and about to ship",
    "shipped": "shipped",
    "canceled": "canceled",
    "refused": "canceled",
    "canceled_by_seller": "canceled",
    "partially_refunded": "shipped, and partly refunded",
    "refunded": "refunded",
    "returned": "returned",
}
_DEFAULT_STATUS_WORDING = "being processed"
# Statuses past shipping or ended (the lifecycle's terminal ones): no "expected to ship by" date.
_NO_SHIP_DATE = lifecycle.TERMINAL


def placeholders(template: str) -> set[str]:
    """Every ``{name}`` a template uses."""
    return set(_PLACEHOLDER.findall(template or ""))


def unknown_placeholders(template: str) -> set[str]:
    """Names a template uses that ``order_context`` never fills (typos, for the template editor)."""
    return placeholders(template) - KNOWN_PLACEHOLDERS


def render(template: str, context: Mapping[str, Any]) -> str:
    """Replace ``{name}`` for every name in ``context``; leave everything else untouched.

    ``None`` values render as an empty string. Values are inserted literally: a value containing
    ``{order_id}`` stays as such (single pass), so customer-provided text cannot inject fields.
    """

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in context:
            return match.group(0)
        value = context[name]
        return "" if value is None else str(value)

    return _PLACEHOLDER.sub(replace, template or "")


def describe_order_status(status: str | None) -> str:
    """Customer-facing wording of an internal order status."""
    if not status:
        return _DEFAULT_STATUS_WORDING
    return _STATUS_WORDING.get(status, _DEFAULT_STATUS_WORDING)


def _format_date(value: datetime | date | None, timezone: str) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(ZoneInfo(timezone))
        value = value.date()
    # "November 24, 2026": unambiguous for customers in both the US-style and ISO camps.
    return f"{value:%B} {value.day}, {value.year}"


def order_context(
    *,
    customer_name: str | None,
    order: Mapping[str, Any] | None,
    shipments: Sequence[Mapping[str, Any]] = (),
    shop_name: str,
    tracking_url_template: str,
    timezone: str = "America/Toronto",
    order_id: str | None = None,
) -> dict[str, str]:
    """Placeholder values for one conversation.

    ``order`` is an ``orders`` row (``current_status``, ``shipping_deadline``, ``customer_firstname``)
    or None when the order is not (yet) in our DB; ``shipments`` its ``shipments`` rows (the first
    live one with a ``tracking_pin`` gives the tracking number). ``tracking_url_template`` holds
    ``{pin}`` (``Settings.tracking_url_template``, Canada Post's tracking page).
    """
    order = order or {}
    oid = order_id or order.get("order_id") or ""
    name = (customer_name or "").strip() or (order.get("customer_firstname") or "").strip() or "there"
    status = order.get("current_status")

    pin = ""
    for shipment in shipments:
        if shipment.get("tracking_pin") and shipment.get("status") not in lifecycle.SETTLED:
            pin = str(shipment["tracking_pin"])
            break
    # str.replace, not str.format: the URL template is configuration and may hold other braces.
    url = tracking_url_template.replace("{pin}", pin) if pin else ""

    ship_date = ""
    if status not in _NO_SHIP_DATE:
        ship_date = _format_date(order.get("shipping_deadline"), timezone)

    if pin:
        sentence = f"Canada Post tracking number: {pin} ({url})."
    elif status == "shipped":
        sentence = "It has left our warehouse with Canada Post."
    elif ship_date:
        sentence = f"It is expected to ship by {ship_date}."
    else:
        sentence = ""

    return {
        "customer_name": name,
        "order_id": oid,
        "order_status": describe_order_status(status),
        "tracking_number": pin,
        "tracking_url": url,
        "tracking_sentence": sentence,
        "expected_ship_date": ship_date,
        "shop_name": shop_name,
    }
