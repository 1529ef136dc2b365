"""The after-sale flows the pages (and the returns sync) run: one place for plan, settle, status.

- :func:`cancel_lines`: a seller cancelation before shipping (packing station, inbox): one OR30
  intent per line, each settled exactly once, then ``canceled_by_seller`` when no line is left.
- :func:`refund_line`: a refund after shipping (inbox, returns page): one OR28 intent, settled
  exactly once, then ``partially_refunded`` / ``refunded``.
- :func:`preview_refund`: what the confirmation shows before anything is sent (read from OR11).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from orderflow import aftersale, aftersale_status, lifecycle
from orderflow.hooks.mirakl_aftersale import LineBalance, line_balance

if TYPE_CHECKING:
    from orderflow.hooks.mirakl import MiraklHook
    from orderflow.store import OrderStore


class FlowRefused(ValueError):
    """The order is not in a status this flow may act on; nothing was sent."""


@dataclass(frozen=True)
class FlowResult:
    settled: list[aftersale.Settled]
    status: str | None  # the order's status after the flow

    @property
    def all_done(self) -> bool:
        return all(s.outcome == "done" for s in self.settled)


def _on_done(store: OrderStore, hook: MiraklHook) -> Callable[[dict[str, Any]], None]:
    def effect(intent: dict[str, Any]) -> None:
        aftersale_status.apply(store, hook, intent)

    return effect


def cancel_lines(
    store: OrderStore,
    hook: MiraklHook,
    order_id: str,
    quantities: Mapping[str, int],
    reason_code: str,
    *,
    requested_by: str,
    note: str | None = None,
    purposes: Mapping[str, str] | None = None,
) -> FlowResult:
    """Cancel ``quantities`` (order line id -> units) with a CANCELATION reason, exactly once.

    ``purposes`` (line -> purpose) come from the form that showed the lines, so a double submit is
    the same intent; without them the next free ``cancel#n`` of each line is used.
    """
    current = store.current_status(order_id)
    if current is None or lifecycle.OrderStatus(current) not in lifecycle.SELLER_CANCELABLE:
        raise FlowRefused(f"order {order_id} is {current}: only an order not shipped yet can be canceled by us")
    if not quantities or any(q < 1 for q in quantities.values()):
        raise FlowRefused("pick at least one unit of one line")
    settled = []
    for line_id, quantity in sorted(quantities.items()):
        purpose = (purposes or {}).get(line_id) or f"cancel#{store.next_money_purpose(line_id, aftersale.CANCEL)}"
        req = aftersale.MoneyRequest(aftersale.CANCEL, order_id, line_id, purpose, reason_code, quantity=quantity,
                                     requested_by=requested_by, note=note)
        intent = aftersale.plan(store, hook, req)
        settled.append(aftersale.settle(store, hook, intent["intent_id"], on_done=_on_done(store, hook)))
    return FlowResult(settled, store.current_status(order_id))


def refund_line(
    store: OrderStore,
    hook: MiraklHook,
    order_id: str,
    order_line_id: str,
    reason_code: str,
    *,
    amount: Decimal | None,
    shipping_amount: Decimal = Decimal(0),
    requested_by: str,
    purpose: str | None = None,
    return_id: str | None = None,
    note: str | None = None,
) -> FlowResult:
    """Refund ``amount`` (None: all the line still allows) of one shipped line, exactly once."""
    current = store.current_status(order_id)
    if current is None or lifecycle.OrderStatus(current) not in lifecycle.REFUNDABLE:
        raise FlowRefused(f"order {order_id} is {current}: only a shipped order can be refunded")
    purpose = purpose or f"refund#{store.next_money_purpose(order_line_id, aftersale.REFUND)}"
    req = aftersale.MoneyRequest(aftersale.REFUND, order_id, order_line_id, purpose, reason_code, amount=amount,
                                 shipping_amount=shipping_amount, return_id=return_id, requested_by=requested_by,
                                 note=note)
    intent = aftersale.plan(store, hook, req)
    result = aftersale.settle(store, hook, intent["intent_id"], on_done=_on_done(store, hook))
    return FlowResult([result], store.current_status(order_id))


@dataclass(frozen=True)
class LinePreview:
    order_line_id: str
    title: str
    quantity: int
    price: Decimal
    balance: LineBalance
    refunded: Decimal
    next_purpose: str


def preview_lines(
    store: OrderStore, hook: MiraklHook, order_id: str, kind: str
) -> tuple[dict[str, Any], list[LinePreview]]:
    """The order fresh from Best Buy and, per line, what is left (the confirmation's amounts)."""
    order = hook.get_order(order_id)
    if order is None:
        raise FlowRefused(f"Best Buy does not know order {order_id}")
    previews = []
    for line in order.get("order_lines") or []:
        balance = line_balance(line)
        refunded = sum((Decimal(str(r.get("amount") or 0)) for r in line.get("refunds") or []), Decimal(0))
        n = store.next_money_purpose(line["order_line_id"], kind)
        previews.append(LinePreview(line["order_line_id"], str(line.get("product_title") or line.get("offer_sku")),
                                    int(line.get("quantity") or 0), Decimal(str(line.get("price") or 0)), balance,
                                    refunded, f"{kind}#{n}"))
    return order, previews
