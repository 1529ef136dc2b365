"""What a settled refund or cancelation does to the order's status (issue 13).

Called once an intent is ``done`` (:func:`orderflow.aftersale.settle`'s ``on_done``): the order is
read back from Best Buy and our copy refreshed, then

- a cancelation that left no line to ship makes the order ``canceled_by_seller`` (who and why in
  the history; a label already bought is the void step's: ``canceled_by_seller`` is in ENDED);
  a partial one changes no status (the rest keeps flowing; who, why and which units are the
  order event ``lines_canceled`` written when the intent settled: store.history_with_events);
- a refund makes the order ``refunded`` when no active line has anything left to refund, else
  ``partially_refunded`` (when the machine allows it: a second partial refund stays there).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from orderflow import lifecycle
from orderflow.aftersale import CANCEL
from orderflow.hooks.mirakl_aftersale import line_balance
from orderflow.hooks.mirakl_records import order_from_payload

if TYPE_CHECKING:
    from orderflow.hooks.mirakl import MiraklHook
    from orderflow.store import OrderStore

log = logging.getLogger(__name__)
S = lifecycle.S

# Line states of an OR11 line that will never ship (Mirakl's own names).
_LINE_GONE = ("CANCELED", "REFUSED")


def target_status(order: Mapping[str, Any], kind: str) -> lifecycle.OrderStatus | None:
    lines = order.get("order_lines") or []
    if kind == CANCEL:
        if lines and all(ln.get("order_line_state") in _LINE_GONE for ln in lines):
            return S.CANCELED_BY_SELLER
        return None
    active = [ln for ln in lines if ln.get("order_line_state") not in _LINE_GONE]
    if active and (order.get("fully_refunded") or all(line_balance(ln).amount_left == 0 for ln in active)):
        return S.REFUNDED
    return S.PARTIALLY_REFUNDED


def apply(store: OrderStore, hook: MiraklHook, intent: Mapping[str, Any], *, actor: str | None = None) -> str | None:
    """Refresh the order from Best Buy and move its status; returns the new status, if any."""
    order = hook.get_order(intent["order_id"])
    if order is None:
        return None
    store.upsert_orders([order_from_payload(order)])
    target = target_status(order, intent["kind"])
    current = store.current_status(intent["order_id"])
    if target is None or current == target or not lifecycle.is_allowed(current, target):
        return None
    held = [r["customer_request_id"] for r in store.shipments_for_order(intent["order_id"])
            if r["status"] in lifecycle.MAY_HOLD_MONEY]
    detail: dict[str, Any] = {
        "reason": f"{'canceled' if intent['kind'] == CANCEL else 'refunded'} by {intent.get('requested_by') or 'us'}"
                  f" ({intent['reason_code']})",
        "reason_code": intent["reason_code"],
        "intent_id": intent["intent_id"],
        "mirakl_id": intent.get("mirakl_id"),
        "amount": str(intent["amount"]),
        "note": intent.get("note"),
        "mirakl_state": order.get("order_state"),
    }
    if target == S.CANCELED_BY_SELLER:
        detail["label_to_void"] = bool(held)
    store.record_transition(intent["order_id"], str(target), detail=detail, actor=actor or intent.get("requested_by"),
                            expected_from=current)
    return str(target)
