"""After-sale pages (issue 13): seller cancelation (packing station, inbox) and refunds (inbox).

Server-rendered forms, no script. Every money-moving POST goes through
:mod:`orderflow.aftersale_flows` (intent first, exactly once); the forms carry the intent's purpose
(``cancel#n`` / ``refund#n``) so the same form posted twice is one cancelation or one refund. A
refund is shown with its amounts (taxes included) on a confirmation page before anything is sent.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from orderflow import aftersale, aftersale_flows, lifecycle
from orderflow.hooks.mirakl_aftersale import money, taxes_for
from orderflow.store import OpenIntentExists, OrderStore
from orderflow.views.common import get_store, render
from orderflow.views.resources import REFUNDS, SELLER_CANCELATION, WRITE
from orderflow.views.security import StaffUser, require

router = APIRouter(prefix="/aftersale")

CancelReader = Annotated[StaffUser, Depends(require(SELLER_CANCELATION))]
CancelWriter = Annotated[StaffUser, Depends(require(SELLER_CANCELATION, WRITE))]
RefundReader = Annotated[StaffUser, Depends(require(REFUNDS))]
RefundWriter = Annotated[StaffUser, Depends(require(REFUNDS, WRITE))]
Store = Annotated[OrderStore, Depends(get_store)]

MAX_NOTE = 1000


def _hook() -> Any:
    from orderflow.hooks.mirakl import MiraklHook

    return MiraklHook()


def _reasons(hook: Any, kind: str) -> list[Any]:
    return [r for r in hook.list_reasons(kind) if r.is_shop_right]


def _error(request: Request, user: StaffUser, title: str, message: str, status: int = 400) -> HTMLResponse:
    return render(request, "error.html", {"user": user, "title": title, "message": message}, status_code=status)


def _back(came_from: str | None) -> str:
    return "inbox" if came_from == "inbox" else "packing"


# -- seller cancelation ---------------------------------------------------------------------------
@router.get("/orders/{order_id}/cancel", name="aftersale_cancel")
def cancel_page(request: Request, order_id: str, user: CancelReader, store: Store, came_from: str | None = None):
    status = store.current_status(order_id)
    if status is None:
        return _error(request, user, "Unknown order", f"No order {order_id}.", 404)
    if lifecycle.OrderStatus(status) not in lifecycle.SELLER_CANCELABLE:
        return _error(request, user, "Cannot cancel", f"Order {order_id} is {status.replace('_', ' ')}: only an "
                      "order not shipped yet can be canceled by us.", 409)
    hook = _hook()
    try:
        order, lines = aftersale_flows.preview_lines(store, hook, order_id, aftersale.CANCEL)
        reasons = _reasons(hook, "CANCELATION")
    finally:
        hook.close()
    return render(request, "aftersale_cancel.html", {
        "user": user, "order_id": order_id, "status": status, "lines": lines, "reasons": reasons,
        "mirakl_state": order.get("order_state"), "came_from": _back(came_from)})


@router.post("/orders/{order_id}/cancel", name="aftersale_cancel_post")
async def cancel_post(request: Request, order_id: str, user: CancelWriter, store: Store):
    form = await request.form()
    reason = str(form.get("reason_code") or "")
    note = str(form.get("note") or "").strip()[:MAX_NOTE] or None
    quantities: dict[str, int] = {}
    purposes: dict[str, str] = {}
    for key, value in form.multi_items():
        if key.startswith("qty:"):
            try:
                qty = int(str(value) or 0)
            except ValueError:
                return _error(request, user, "Invalid input", "Quantities must be whole numbers.", 422)
            if qty > 0:
                quantities[key[4:]] = qty
        elif key.startswith("purpose:"):
            purposes[key[8:]] = str(value)
    if not reason:
        return _error(request, user, "Invalid input", "Pick Best Buy's reason for the cancelation.", 422)
    hook = _hook()
    try:
        result = aftersale_flows.cancel_lines(store, hook, order_id, quantities, reason, requested_by=user.username,
                                              note=note, purposes=purposes)
    except (aftersale_flows.FlowRefused, aftersale.AmountRefused, OpenIntentExists) as exc:
        return _error(request, user, "Not canceled", str(exc), 409)
    finally:
        hook.close()
    return render(request, "aftersale_result.html", {
        "user": user, "order_id": order_id, "kind": "cancelation", "result": result,
        "came_from": _back(str(form.get("came_from") or ""))})


# -- refunds --------------------------------------------------------------------------------------
@router.get("/orders/{order_id}/refund", name="aftersale_refund")
def refund_page(request: Request, order_id: str, user: RefundReader, store: Store):
    status = store.current_status(order_id)
    if status is None:
        return _error(request, user, "Unknown order", f"No order {order_id}.", 404)
    if lifecycle.OrderStatus(status) not in lifecycle.REFUNDABLE:
        return _error(request, user, "Cannot refund", f"Order {order_id} is {status.replace('_', ' ')}: only a "
                      "shipped order can be refunded.", 409)
    hook = _hook()
    try:
        _order, lines = aftersale_flows.preview_lines(store, hook, order_id, aftersale.REFUND)
        reasons = _reasons(hook, "REFUND")
    finally:
        hook.close()
    return render(request, "aftersale_refund.html", {"user": user, "order_id": order_id, "status": status,
                                                     "lines": lines, "reasons": reasons})


def _amount(value: Any) -> Decimal | None:
    try:
        amount = Decimal(str(value or "0").strip().replace("$", "").replace(",", "."))
    except InvalidOperation:
        return None
    if amount != amount.quantize(Decimal("0.01")) or amount < 0:
        return None
    return amount


@router.post("/orders/{order_id}/refund/confirm", name="aftersale_refund_confirm")
async def refund_confirm(request: Request, order_id: str, user: RefundWriter, store: Store):
    """Shows what would be sent (amount, taxes, total) against what the line allows; sends nothing."""
    form = await request.form()
    line_id = str(form.get("order_line_id") or "")
    reason = str(form.get("reason_code") or "")
    amount = _amount(form.get("amount"))
    if amount is None or amount == 0 or not reason or not line_id:
        return _error(request, user, "Invalid input", "Pick a line, a reason and an amount in dollars and cents.",
                      422)
    hook = _hook()
    try:
        _order, lines = aftersale_flows.preview_lines(store, hook, order_id, aftersale.REFUND)
        reasons = {r.code: r.label for r in _reasons(hook, "REFUND")}
    finally:
        hook.close()
    line = next((ln for ln in lines if ln.order_line_id == line_id), None)
    if line is None or reason not in reasons:
        return _error(request, user, "Invalid input", "Unknown line or reason.", 422)
    if amount > line.balance.amount_left:
        return _error(request, user, "Too much", f"{amount} is more than this line still allows "
                      f"({line.balance.amount_left}). Nothing was sent.", 409)
    taxes = taxes_for(line.balance, amount)
    total = amount + sum((t for _, t in taxes), Decimal(0))
    return render(request, "aftersale_confirm.html", {
        "user": user, "order_id": order_id, "line": line, "amount": amount, "taxes": taxes, "total": total,
        "reason_code": reason, "reason_label": reasons[reason],
        "purpose": str(form.get("purpose") or line.next_purpose), "note": str(form.get("note") or "")[:MAX_NOTE]})


@router.post("/orders/{order_id}/refund", name="aftersale_refund_post")
async def refund_post(request: Request, order_id: str, user: RefundWriter, store: Store):
    form = await request.form()
    line_id = str(form.get("order_line_id") or "")
    reason = str(form.get("reason_code") or "")
    amount = _amount(form.get("amount"))
    purpose = str(form.get("purpose") or "")
    if amount is None or amount == 0 or not reason or not line_id or not purpose.startswith("refund#"):
        return _error(request, user, "Invalid input", "The confirmation form is incomplete: start again.", 422)
    hook = _hook()
    try:
        result = aftersale_flows.refund_line(store, hook, order_id, line_id, reason, amount=money(amount),
                                             requested_by=user.username, purpose=purpose,
                                             note=str(form.get("note") or "").strip()[:MAX_NOTE] or None)
    except (aftersale_flows.FlowRefused, aftersale.AmountRefused, OpenIntentExists) as exc:
        return _error(request, user, "Not refunded", f"{exc}. Nothing was sent.", 409)
    finally:
        hook.close()
    return render(request, "aftersale_result.html", {"user": user, "order_id": order_id, "kind": "refund",
                                                     "result": result, "came_from": "inbox"})
