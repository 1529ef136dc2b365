"""After-sale pages (issue 13): seller cancelation (packing station, inbox), refunds (inbox) and
incidents (listed first in the inbox with Best Buy's 4-day clock; resolved with OR64).

Server-rendered forms, no script. Every money-moving POST goes through
:mod:`orderflow.aftersale_flows` (intent first, exactly once); the forms carry the intent's purpose
(``cancel#n`` / ``refund#n``) so the same form posted twice is one cancelation or one refund. A
refund is shown with its amounts (taxes included) on a confirmation page before anything is sent.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import pass_context

from orderflow import aftersale, aftersale_flows, lifecycle
from orderflow.hooks.mirakl_aftersale import money, taxes_for
from orderflow.hooks.mirakl_records import order_from_payload
from orderflow.store import OpenIntentExists, OrderStore
from orderflow.timestamps import parse_timestamp
from orderflow.views.common import _env, base_path, get_store, render
from orderflow.views.resources import CUSTOMER_SERVICE, REFUNDS, SELLER_CANCELATION, WRITE
from orderflow.views.security import StaffUser, require

if TYPE_CHECKING:
    from jinja2.runtime import Context

    from orderflow.hooks.mirakl import MiraklHook
    from orderflow.hooks.mirakl_aftersale import Reason

router = APIRouter(prefix="/aftersale")
log = logging.getLogger(__name__)

CancelReader = Annotated[StaffUser, Depends(require(SELLER_CANCELATION))]
CancelWriter = Annotated[StaffUser, Depends(require(SELLER_CANCELATION, WRITE))]
RefundReader = Annotated[StaffUser, Depends(require(REFUNDS))]
RefundWriter = Annotated[StaffUser, Depends(require(REFUNDS, WRITE))]
Store = Annotated[OrderStore, Depends(get_store)]

MAX_NOTE = 1000


def _hook() -> MiraklHook:
    from orderflow.hooks.mirakl import MiraklHook

    return MiraklHook()


def _reasons(hook: MiraklHook, kind: str) -> list[Reason]:
    return [r for r in hook.list_reasons(kind) if r.is_shop_right]


def _error(request: Request, user: StaffUser, title: str, message: str, status: int = 400) -> HTMLResponse:
    return render(request, "error.html", {"user": user, "title": title, "message": message}, status_code=status)


def _back(came_from: str | None) -> str:
    return "inbox" if came_from == "inbox" else "packing"


# -- seller cancelation ---------------------------------------------------------------------------
@router.get("/orders/{order_id}/cancel", name="aftersale_cancel")
def cancel_page(
    request: Request, order_id: str, user: CancelReader, store: Store, came_from: str | None = None,
) -> Response:
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
async def cancel_post(request: Request, order_id: str, user: CancelWriter, store: Store) -> Response:
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
def refund_page(request: Request, order_id: str, user: RefundReader, store: Store) -> Response:
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
async def refund_confirm(request: Request, order_id: str, user: RefundWriter, store: Store) -> Response:
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
async def refund_post(request: Request, order_id: str, user: RefundWriter, store: Store) -> Response:
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


# -- incidents ------------------------------------------------------------------------------------
# Best Buy: resolve within 4 days (reminders after 2); the payout is held while one is open.
INCIDENT_DAYS = 4
INCIDENT_REMIND_DAYS = 2
IncidentReader = Annotated[StaffUser, Depends(require(CUSTOMER_SERVICE))]
IncidentWriter = Annotated[StaffUser, Depends(require(CUSTOMER_SERVICE, WRITE))]


def incident_clock(opened_at: datetime | None, now: datetime | None = None) -> dict[str, Any]:
    """Time left of Best Buy's 4 days, and the css of the clock (late, reminded, ok)."""
    if opened_at is None:
        return {"left_seconds": None, "css": "deadline-none", "late": False}
    now = now or datetime.now(UTC)
    left = (opened_at + timedelta(days=INCIDENT_DAYS) - now).total_seconds()
    reminded = now - opened_at >= timedelta(days=INCIDENT_REMIND_DAYS)
    css = "deadline-late" if left < 0 else "deadline-warn" if reminded else "deadline-ok"
    return {"left_seconds": left, "css": css, "late": left < 0}


@pass_context
def open_incidents_for_page(context: Context) -> list[dict[str, Any]]:
    """The inbox's incident panel (a template global: the inbox page itself stays as it is). The store
    is the request's own (FastAPI's dependency, overrides included)."""
    request = context.get("request")
    overrides = getattr(getattr(request, "app", None), "dependency_overrides", {}) or {}
    rows: list[dict[str, Any]] = overrides.get(get_store, get_store)().open_incidents()
    for row in rows:
        row["clock"] = incident_clock(row["opened_at"])
    return rows


@router.get("/orders/{order_id}/lines/{line_id}/incident", name="aftersale_incident")
def incident_page(request: Request, order_id: str, line_id: str, user: IncidentReader, store: Store) -> Response:
    if store.current_status(order_id) is None:
        return _error(request, user, "Unknown order", f"No order {order_id}.", 404)
    hook = _hook()
    try:
        order = hook.get_order(order_id)
        reasons = _reasons(hook, "INCIDENT_CLOSE")
    finally:
        hook.close()
    line = next((ln for ln in (order or {}).get("order_lines") or [] if ln["order_line_id"] == line_id), None)
    if line is None:
        return _error(request, user, "Unknown line", f"Best Buy has no line {line_id} on order {order_id}.", 404)
    status = store.current_status(order_id)
    opened = line.get("last_updated_date")
    opened_at = parse_timestamp(opened)
    return render(request, "aftersale_incident.html", {
        "user": user, "order_id": order_id, "line": line, "reasons": reasons, "status": status,
        "open": line.get("order_line_state") == "INCIDENT_OPEN", "clock": incident_clock(opened_at),
        "order": {"order_id": order_id, "current_status": status}, "came_from": "inbox"})


@router.post("/orders/{order_id}/lines/{line_id}/incident", name="aftersale_incident_post")
async def incident_resolve(
    request: Request, order_id: str, line_id: str, user: IncidentWriter, store: Store,
) -> Response:
    """OR64 with an INCIDENT_CLOSE reason; after any error the order is read back (OR11) and the
    incident counts as resolved when the line left INCIDENT_OPEN."""
    from orderflow.hooks.mirakl import MiraklError

    form = await request.form()
    reason = str(form.get("reason_code") or "")
    if not reason:
        return _error(request, user, "Invalid input", "Pick how the incident was resolved.", 422)
    hook = _hook()
    problem = None
    try:
        try:
            hook.resolve_incident(order_id, line_id, reason)
        except MiraklError as exc:
            problem = str(exc)
        order = hook.get_order(order_id)
    finally:
        hook.close()
    if order is not None:
        store.upsert_orders([order_from_payload(order)])  # our copy of the line state (the inbox panel reads it)
    line: dict[str, Any] = next(
        (ln for ln in (order or {}).get("order_lines") or [] if ln["order_line_id"] == line_id), {})
    if line.get("order_line_state") == "INCIDENT_OPEN":
        return _error(request, user, "Not resolved", f"Best Buy still shows the incident open: {problem}", 409)
    log.info("incident on %s resolved by %s (%s)", line_id, user.username, reason)
    return RedirectResponse(f"{base_path(request)}/inbox/?incident_resolved={quote(line_id)}", status_code=303)


_env.globals["open_incidents"] = open_incidents_for_page
