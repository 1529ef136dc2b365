"""Best Buy returns (issue 13): the RT11 sync and the Receiver's guided steps.

Best Buy accepts and labels a customer's return (RT11 ``IN_PROGRESS``). The Receiver, on the
Returns page, records it received (RT25), judges each line compliant or not with a reason and a
note (RT26), refunds a mail-in return (OR28, exactly once through :mod:`orderflow.aftersale_flows`
with purpose ``return:<return id>``), and closes it (RT27). An in-store return is received and
refunded by Best Buy: it is recorded (``returned``, then ``refunded`` from Best Buy's own refunds on
the OR11 lines), never refunded again (the line has nothing left, and the page offers no refund).

RT25/RT26/RT27 set a state: after an error or a per-return refusal the return is read back (RT11)
and the step counts as done when Best Buy shows its result.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from orderflow import aftersale, aftersale_flows, aftersale_status, lifecycle
from orderflow.hooks.mirakl_aftersale import LineCompliance, ReturnsUpdate, line_balance
from orderflow.hooks.mirakl_records import order_from_payload, return_from_payload
from orderflow.timestamps import require_timestamp

if TYPE_CHECKING:
    from orderflow.hooks.mirakl import MiraklHook
    from orderflow.store import OrderStore

log = logging.getLogger(__name__)

R = lifecycle.MiraklReturnState
IN_STORE = "RETURN_METHOD_IN_STORE"
# Mirakl: RT11 at most every 5 minutes; the task group keeps that pace whatever the DAG schedule.
RT11_MIN_INTERVAL = timedelta(minutes=5)
# Best Buy's dates are its own clock: re-read a little before the newest return seen.
OVERLAP = timedelta(minutes=10)
WATERMARK = "returns_rt11_updated"
LAST_SWEEP = "returns_rt11_swept"


class ReturnStepRefused(RuntimeError):
    """Best Buy refused the step and its copy of the return does not show it done."""


def sync(store: OrderStore, hook: MiraklHook, *, now: datetime | None = None, force: bool = False) -> dict[str, Any]:
    """RT11 since the watermark (minus an overlap) into ``returns``; received returns mark the order."""
    now = now or datetime.now(UTC)
    last = store.get_watermark(LAST_SWEEP)
    if not force and last is not None and now - last < RT11_MIN_INTERVAL:
        return {"skipped": f"last RT11 sweep {int((now - last).total_seconds())} s ago (Mirakl: every 5 min at most)"}
    since = store.get_watermark(WATERMARK)
    returns = hook.list_returns(since - OVERLAP if since else None)
    records = [return_from_payload(r) for r in returns]  # the hook's RT11 parser refused a malformed one
    changed = store.upsert_returns(records)
    marked = 0
    for row in changed:
        if row["state"] in (R.RECEIVED, R.CLOSED):
            marked += bool(mark_order_returned(store, hook, row["order_id"], who="returns sync",
                                               return_id=row["return_id"], method=row["method_code"]))
    newest = max((r.last_updated for r in records if r.last_updated), default=None)
    if newest:
        store.set_watermark(WATERMARK, require_timestamp(newest))
    store.set_watermark(LAST_SWEEP, now)
    return {"listed": len(returns), "changed": len(changed), "orders_returned": marked}


def mark_order_returned(store: OrderStore, hook: MiraklHook, order_id: str, *, who: str, return_id: str,
                        method: str | None) -> str | None:
    """The order is ``returned`` (when the machine allows), then ``refunded`` if Best Buy refunded it all."""
    current = store.current_status(order_id)
    moved = None
    if current is not None and lifecycle.is_allowed(current, lifecycle.S.RETURNED):
        store.record_transition(order_id, str(lifecycle.S.RETURNED), actor=who, expected_from=current,
                                detail={"reason": "return received" + (" in store by Best Buy" if method == IN_STORE
                                                                        else ""),
                                        "return_id": return_id, "method": method})
        moved = str(lifecycle.S.RETURNED)
    if method == IN_STORE:
        # Best Buy refunded the customer itself: record what its OR11 lines say (never refund again).
        order = hook.get_order(order_id)
        if order is not None:
            store.upsert_orders([order_from_payload(order)])
            target = aftersale_status.target_status(order, aftersale.REFUND)
            now_status = store.current_status(order_id)
            refunded = any(ln.get("refunds") for ln in order.get("order_lines") or [])
            if refunded and target and now_status != target and lifecycle.is_allowed(now_status, target):
                store.record_transition(order_id, str(target), actor=who, expected_from=now_status,
                                        detail={"reason": "refunded by Best Buy (in-store return)",
                                                "return_id": return_id})
                moved = str(target)
    return moved


def _read_back(hook: MiraklHook, return_id: str) -> dict[str, Any] | None:
    found = hook.list_returns(return_ids=[return_id])
    return found[0] if found else None


def _step(
    hook: MiraklHook, return_id: str, call: Callable[[], ReturnsUpdate], done: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    from orderflow.hooks.mirakl import MiraklError, MiraklPermanentError

    problem = None
    try:
        update = call()
        if return_id in update.errors:
            problem = update.errors[return_id]
    except MiraklPermanentError:
        raise
    except MiraklError as exc:
        problem = str(exc)
    ret = _read_back(hook, return_id)
    if ret is None or not done(ret):
        raise ReturnStepRefused(problem or "Best Buy does not show the step done")
    return ret


def receive(store: OrderStore, hook: MiraklHook, return_id: str, *, who: str) -> dict[str, Any]:
    row = store.get_return(return_id)
    if row is None:
        raise KeyError(return_id)
    ret = _step(hook, return_id, lambda: hook.receive_returns([return_id]),
                lambda r: r["state"] in (R.RECEIVED, R.CLOSED))
    store.mark_return(return_id, "received", who, return_from_payload(ret))
    mark_order_returned(store, hook, row["order_id"], who=who, return_id=return_id, method=row["method_code"])
    return ret


def judge(
    store: OrderStore, hook: MiraklHook, return_id: str, judgements: Sequence[LineCompliance], *, who: str
) -> dict[str, Any]:
    wanted = {j.order_line_id: j.compliant for j in judgements}

    def done(ret: dict[str, Any]) -> bool:
        seen = {rl["order_line_id"]: (rl.get("compliance") or [{}])[-1].get("compliant") for rl in ret["return_lines"]}
        return all(seen.get(line) == ok for line, ok in wanted.items())

    ret = _step(hook, return_id, lambda: hook.set_return_compliance({return_id: list(judgements)}), done)
    store.mark_return(return_id, "judged", who, return_from_payload(ret))
    return ret


def refundable_lines(store: OrderStore, hook: MiraklHook, row: dict[str, Any]) -> list[dict[str, Any]]:
    """Compliant lines of a mail-in return with what each still allows (nothing for in-store returns)."""
    if row["method_code"] == IN_STORE:
        return []
    order = hook.get_order(row["order_id"])
    if order is None:
        return []
    by_id = {ln["order_line_id"]: ln for ln in order.get("order_lines") or []}
    out = []
    for rl in row["return_lines"] or []:
        verdict = (rl.get("compliance") or [{}])[-1].get("compliant")
        line = by_id.get(rl["order_line_id"])
        if verdict is True and line is not None:
            balance = line_balance(line)
            out.append({"order_line_id": rl["order_line_id"], "title": line.get("product_title"),
                        "quantity": rl.get("quantity"), "left": balance.amount_left,
                        "taxes": balance.taxes_left,
                        "total": balance.amount_left + sum((t for _, t in balance.taxes_left), Decimal(0))})
    return out


def refund(
    store: OrderStore, hook: MiraklHook, return_id: str, reason_code: str, *, who: str
) -> list[aftersale_flows.FlowResult]:
    """Refund every compliant line of a mail-in return, all it still allows, exactly once each."""
    row = store.get_return(return_id)
    if row is None:
        raise KeyError(return_id)
    if row["method_code"] == IN_STORE:
        raise aftersale_flows.FlowRefused("an in-store return is refunded by Best Buy: nothing to send")
    results = []
    for line in refundable_lines(store, hook, row):
        if line["left"] <= 0:
            continue
        results.append(aftersale_flows.refund_line(
            store, hook, row["order_id"], line["order_line_id"], reason_code, amount=None, requested_by=who,
            purpose=f"return:{return_id}", return_id=return_id, note=f"return {row.get('rma') or return_id}"))
    return results


def close(store: OrderStore, hook: MiraklHook, return_id: str, *, who: str) -> dict[str, Any]:
    ret = _step(hook, return_id, lambda: hook.close_returns([return_id]), lambda r: r["state"] == R.CLOSED)
    store.mark_return(return_id, "closed", who, return_from_payload(ret))
    return ret
