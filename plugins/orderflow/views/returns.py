"""The Returns page (issue 13, role Receiver): scan a return, receive it, judge it, refund it, close it.

A return opens by scanning the order id, the commercial id, the return id, its RMA or the return
tracking PIN. The guided steps (RT25, RT26, OR28 for mail-in returns, RT27) are in
:mod:`orderflow.returns_flow`; the refund's amounts are on the page before its button.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from orderflow import aftersale, aftersale_flows, returns_flow
from orderflow.hooks.mirakl_aftersale import NON_COMPLIANCE_REASONS, LineCompliance
from orderflow.store import OpenIntentExists, OrderStore
from orderflow.views.common import base_path, get_store, render
from orderflow.views.resources import RETURNS, WRITE
from orderflow.views.security import StaffUser, require

if TYPE_CHECKING:
    from orderflow.hooks.mirakl import MiraklHook

router = APIRouter(prefix="/returns")

Reader = Annotated[StaffUser, Depends(require(RETURNS))]
Writer = Annotated[StaffUser, Depends(require(RETURNS, WRITE))]
Store = Annotated[OrderStore, Depends(get_store)]


def _hook() -> MiraklHook:
    from orderflow.hooks.mirakl import MiraklHook

    return MiraklHook()


def _to(request: Request, return_id: str, flash: str = "") -> RedirectResponse:
    suffix = f"?done={quote(flash)}" if flash else ""
    return RedirectResponse(f"{base_path(request)}/returns/{quote(return_id, safe='')}{suffix}", status_code=303)


@router.get("/", name="returns_list")
def returns_page(
    request: Request, user: Reader, store: Store, code: str | None = Query(None, max_length=200),
) -> Response:
    message = None
    if code is not None and code.strip():
        return_id = store.find_return(code)
        if return_id is not None:
            return _to(request, return_id)
        message = f"No return found for “{code.strip()}” (order id, return id, RMA or return tracking PIN)."
    return render(request, "returns_list.html", {"user": user, "returns": store.open_returns(), "message": message,
                                                 "code": code or ""}, status_code=404 if message else 200)


@router.get("/{return_id}", name="returns_detail")
def return_page(request: Request, return_id: str, user: Reader, store: Store, done: str | None = None) -> Response:
    row = store.get_return(return_id)
    if row is None:
        return render(request, "error.html", {"user": user, "title": "Unknown return",
                                              "message": f"No return {return_id}."}, status_code=404)
    hook = _hook()
    try:
        refundable = returns_flow.refundable_lines(store, hook, row) if row["state"] in ("RECEIVED",) else []
        reasons = [r for r in hook.list_reasons("REFUND") if r.is_shop_right] if refundable else []
    finally:
        hook.close()
    intents = store.money_intents_for_return(return_id)
    return render(request, "returns_detail.html", {
        "user": user, "ret": row, "refundable": refundable, "reasons": reasons, "intents": intents,
        "in_store": row["method_code"] == returns_flow.IN_STORE, "non_compliance": sorted(NON_COMPLIANCE_REASONS),
        "refund_total": sum((line["total"] for line in refundable), 0), "done": done,
        "judged": all((rl.get("compliance") or []) for rl in row["return_lines"] or []),
    })


def _fail(request: Request, user: StaffUser, message: str) -> HTMLResponse:
    return render(request, "error.html", {"user": user, "title": "Not done", "message": message}, status_code=409)


@router.post("/{return_id}/receive", name="returns_receive")
def receive(request: Request, return_id: str, user: Writer, store: Store) -> Response:
    hook = _hook()
    try:
        returns_flow.receive(store, hook, return_id, who=user.username)
    except returns_flow.ReturnStepRefused as exc:
        return _fail(request, user, f"Best Buy did not record it received: {exc}")
    finally:
        hook.close()
    return _to(request, return_id, "received")


@router.post("/{return_id}/compliance", name="returns_compliance")
async def compliance(request: Request, return_id: str, user: Writer, store: Store) -> Response:
    form = await request.form()
    row = store.get_return(return_id)
    if row is None:
        return _fail(request, user, f"No return {return_id}.")
    judgements = []
    for rl in row["return_lines"] or []:
        line_id = rl["order_line_id"]
        verdict = str(form.get(f"verdict:{line_id}") or "")
        if verdict not in ("compliant", "non_compliant"):
            return _fail(request, user, f"Judge every line (compliant or not): {line_id} is missing.")
        reason = str(form.get(f"reason:{line_id}") or "") or None
        if verdict == "non_compliant" and reason not in NON_COMPLIANCE_REASONS:
            return _fail(request, user, f"A non-compliant line needs a reason: {line_id}.")
        judgements.append(LineCompliance(line_id, verdict == "compliant", reason if verdict != "compliant" else None,
                                         str(form.get(f"note:{line_id}") or "").strip()[:2000] or None))
    hook = _hook()
    try:
        returns_flow.judge(store, hook, return_id, judgements, who=user.username)
    except returns_flow.ReturnStepRefused as exc:
        return _fail(request, user, f"Best Buy did not record the judgement: {exc}")
    finally:
        hook.close()
    return _to(request, return_id, "judged")


@router.post("/{return_id}/refund", name="returns_refund")
async def refund(request: Request, return_id: str, user: Writer, store: Store) -> Response:
    form = await request.form()
    reason = str(form.get("reason_code") or "")
    if not reason:
        return _fail(request, user, "Pick Best Buy's refund reason.")
    hook = _hook()
    try:
        results = returns_flow.refund(store, hook, return_id, reason, who=user.username)
    except (aftersale_flows.FlowRefused, aftersale.AmountRefused, OpenIntentExists) as exc:
        return _fail(request, user, f"{exc}. Nothing was sent.")
    finally:
        hook.close()
    outcomes = {s.outcome for r in results for s in r.settled}
    return _to(request, return_id, "refunded" if outcomes <= {"done"} else "refund-pending")


@router.post("/{return_id}/close", name="returns_close")
def close(request: Request, return_id: str, user: Writer, store: Store) -> Response:
    hook = _hook()
    try:
        returns_flow.close(store, hook, return_id, who=user.username)
    except returns_flow.ReturnStepRefused as exc:
        return _fail(request, user, f"Best Buy did not close it: {exc}")
    finally:
        hook.close()
    return _to(request, return_id, "closed")
