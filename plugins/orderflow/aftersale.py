"""Refunds (OR28) and seller cancelations (OR30), exactly once (issue 13).

OR28 and OR30 carry no idempotency key, so the guarantee is ours:

1. :func:`plan` reads the order fresh from Best Buy (OR11), checks the amount against what the line
   still allows (never more), and commits an intent under a deterministic id
   ``<order_line_id>:<purpose>`` with the ids of the refunds/cancelations the line already holds.
   The same form posted twice is the same intent.
2. :func:`settle` takes the intent's advisory lock, raises ``attempts`` (committed) and calls.
3. After any doubt (timeout, dropped connection, 5xx, a body it cannot read, a worker killed
   mid-call: ``attempts > 0`` on a later run) the order is read back with OR11 and the line's
   refunds/cancelations that are neither in the intent's ``known_ids`` nor claimed by another
   intent are matched against its amounts *before anything is sent again*. A match settles it;
   no match means Best Buy holds nothing of it, and only then is it sent again.

A 4xx on a clean attempt means nothing was applied: the intent fails (a person may make a new one).
What a settled intent does to the order's status is :mod:`orderflow.aftersale_status`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from orderflow.hooks.mirakl import MiraklError, MiraklPermanentError
from orderflow.hooks.mirakl_aftersale import LineMoney, line_balance, money, taxes_for
from orderflow.lifecycle import MI, OrderEvent

if TYPE_CHECKING:
    from orderflow.hooks.mirakl import MiraklHook
    from orderflow.store import OrderStore

log = logging.getLogger(__name__)

REFUND = "refund"
CANCEL = "cancel"
KINDS = (REFUND, CANCEL)
#: Sends within one settle call; a doubt left after them waits for the next sweep (read back first).
MAX_SENDS_PER_SETTLE = 3


class AmountRefused(ValueError):
    """The request asks for more than the line allows (or for nothing); nothing was committed."""


class LineNotFound(LookupError):
    pass


@dataclass(frozen=True)
class MoneyRequest:
    kind: str
    order_id: str
    order_line_id: str
    purpose: str
    reason_code: str
    amount: Decimal | None = None  # None: everything the line still allows (cancel: the units' price)
    shipping_amount: Decimal = Decimal(0)
    quantity: int = 0
    return_id: str | None = None
    requested_by: str | None = None
    note: str | None = None

    @property
    def intent_id(self) -> str:
        return intent_id(self.order_line_id, self.purpose)


def intent_id(order_line_id: str, purpose: str) -> str:
    """The deterministic id of one refund/cancel of one line for one purpose."""
    if not order_line_id or not purpose or ":" in order_line_id:
        raise ValueError(f"bad order line {order_line_id!r} or purpose {purpose!r}")
    return f"{order_line_id}:{purpose}"


def find_line(order: Mapping[str, Any], order_line_id: str) -> dict[str, Any]:
    lines: list[dict[str, Any]] = order.get("order_lines") or []
    for line in lines:
        if line.get("order_line_id") == order_line_id:
            return line
    raise LineNotFound(f"order {order.get('order_id')} has no line {order_line_id}")


def line_item_ids(line: Mapping[str, Any]) -> list[str]:
    return [str(item["id"]) for item in [*(line.get("refunds") or []), *(line.get("cancelations") or [])]
            if item.get("id")]


def price_request(line: Mapping[str, Any], req: MoneyRequest) -> LineMoney:
    """The amounts to send, checked against what the line still allows (raises AmountRefused)."""
    balance = line_balance(line)
    shipping = money(req.shipping_amount)
    if req.kind == CANCEL:
        quantity = req.quantity or balance.quantity_left
        if not 1 <= quantity <= balance.quantity_left:
            raise AmountRefused(f"line {req.order_line_id}: {quantity} unit(s) asked, {balance.quantity_left} left")
        if req.amount is None:
            unit = money(line.get("price_unit") or (money(line.get("price")) / max(1, int(line.get("quantity") or 1))))
            amount = min(balance.amount_left, (unit * quantity).quantize(Decimal("0.01")))
            if quantity == balance.quantity_left:
                amount = balance.amount_left  # the last units take what is left (no stray cent)
        else:
            amount = money(req.amount)
    else:
        quantity = req.quantity
        amount = balance.amount_left if req.amount is None else money(req.amount)
        if amount == 0 and shipping == 0:
            raise AmountRefused(f"line {req.order_line_id}: nothing to refund")
        if not balance.can_refund and balance.amount_left > 0 and amount > 0 and not line.get("refunds"):
            raise AmountRefused(f"line {req.order_line_id}: Best Buy does not allow a refund of this line now")
    if amount < 0 or amount > balance.amount_left:
        raise AmountRefused(f"line {req.order_line_id}: {amount} asked, {balance.amount_left} left to "
                            f"{'refund' if req.kind == REFUND else 'cancel'}")
    if shipping < 0 or shipping > balance.shipping_left:
        raise AmountRefused(f"line {req.order_line_id}: shipping {shipping} asked, {balance.shipping_left} left")
    return LineMoney(req.order_line_id, amount, shipping, req.reason_code, quantity=quantity,
                     taxes=taxes_for(balance, amount))


def plan(store: OrderStore, hook: MiraklHook, req: MoneyRequest) -> dict[str, Any]:
    """Read the order (OR11), price the request within the line's limits, commit the intent."""
    if req.kind not in KINDS:
        raise ValueError(f"unknown kind {req.kind!r}")
    existing = store.money_intent(req.intent_id)
    if existing is not None:
        return existing  # the same purpose again (a double submit): one intent
    order = hook.get_order(req.order_id)
    if order is None:
        raise LineNotFound(f"Best Buy does not know order {req.order_id}")
    line = find_line(order, req.order_line_id)
    priced = price_request(line, req)
    return store.create_money_intent(
        intent_id=req.intent_id, kind=req.kind, order_id=req.order_id, order_line_id=req.order_line_id,
        purpose=req.purpose, amount=priced.amount, shipping_amount=priced.shipping_amount, quantity=priced.quantity,
        taxes=priced.taxes, reason_code=req.reason_code, known_ids=line_item_ids(line), return_id=req.return_id,
        requested_by=req.requested_by, note=req.note,
    )


def intent_money(intent: Mapping[str, Any]) -> LineMoney:
    taxes = tuple((t["code"], money(t["amount"])) for t in intent.get("taxes") or [])
    return LineMoney(intent["order_line_id"], money(intent["amount"]), money(intent["shipping_amount"]),
                     intent["reason_code"], quantity=int(intent["quantity"]), taxes=taxes)


def matches(item: Mapping[str, Any], intent: Mapping[str, Any]) -> bool:
    """A refund/cancelation on the OR11 line that is the intent's (same amounts and reason)."""
    same = (money(item.get("amount")) == money(intent["amount"])
            and money(item.get("shipping_amount")) == money(intent["shipping_amount"])
            and (item.get("reason_code") in (None, intent["reason_code"])))
    if intent["kind"] == CANCEL:
        same = same and int(item.get("quantity") or 0) == int(intent["quantity"])
    return same


def find_applied(line: Mapping[str, Any], intent: Mapping[str, Any], claimed: set[str]) -> dict[str, Any] | None:
    """The line's item that settles the intent: new since the intent (not in known_ids), not claimed by
    another intent, same amounts; the oldest such item when several match."""
    items = line.get("refunds") if intent["kind"] == REFUND else line.get("cancelations")
    known = set(intent.get("known_ids") or [])
    candidates = [item for item in items or [] if item.get("id") and str(item["id"]) not in known
                  and str(item["id"]) not in claimed and matches(item, intent)]
    candidates.sort(key=lambda item: (str(item.get("created_date") or ""), str(item["id"])))
    return candidates[0] if candidates else None


@dataclass(frozen=True)
class Settled:
    intent_id: str
    outcome: str  # "done" | "failed" | "doubt" (still open, read back before any send) | "busy"
    mirakl_id: str | None = None
    message: str = ""
    intent: dict[str, Any] | None = None


def read_back(store: OrderStore, hook: MiraklHook, intent: Mapping[str, Any]) -> dict[str, Any] | None:
    order = hook.get_order(intent["order_id"])
    if order is None:
        return None
    line = find_line(order, intent["order_line_id"])
    claimed = store.claimed_money_ids(intent["order_line_id"], except_intent=intent["intent_id"])
    return find_applied(line, intent, claimed)


def _error(exc: Exception) -> dict[str, Any]:
    return {"error": type(exc).__name__, "message": str(exc)[:500], "status": getattr(exc, "status", None),
            "codes": list(getattr(exc, "codes", ()) or ())}


def settle(
    store: OrderStore,
    hook: MiraklHook,
    intent_id_: str,
    *,
    max_sends: int = MAX_SENDS_PER_SETTLE,
    on_done: Callable[[dict[str, Any]], None] | None = None,
) -> Settled:
    """Bring one intent to done or failed if Best Buy lets us; never two refunds for one intent."""
    with store.money_lock(intent_id_) as locked:
        if not locked:
            return Settled(intent_id_, "busy", message="another worker is settling this intent")
        intent = store.money_intent(intent_id_)
        if intent is None:
            raise KeyError(f"no money intent {intent_id_}")
        if intent["status"] != MI.INTENT:
            return Settled(intent_id_, intent["status"], intent.get("mirakl_id"), intent=intent)
        sends = 0
        while True:
            if intent["attempts"] > 0:
                try:
                    applied = read_back(store, hook, intent)
                except MiraklError as exc:
                    intent = store.note_money_error(intent_id_, _error(exc)) or intent
                    return Settled(intent_id_, "doubt", message=f"could not read the order back: {exc}",
                                   intent=intent)
                if applied is not None:
                    return _done(store, hook, intent, str(applied["id"]), on_done, "found on the order when read back")
            if sends >= max_sends:
                return Settled(intent_id_, "doubt", message="Best Buy did not answer; read back before sending again",
                               intent=intent)
            attempted = store.mark_money_attempt(intent_id_)
            if attempted is None:  # open a moment ago under our lock; was a TypeError below, nothing sent either way
                raise RuntimeError(f"money intent {intent_id_} is no longer open")
            intent = attempted
            sends += 1
            try:
                if intent["kind"] == REFUND:
                    created = hook.refund_lines([intent_money(intent)])
                    id_key = "refund_id"
                else:
                    created = hook.cancel_lines([intent_money(intent)])
                    id_key = "cancelation_id"
            except MiraklPermanentError as exc:
                if intent["attempts"] > 1:
                    # An earlier try was in doubt: read once more before calling this a refusal.
                    try:
                        applied = read_back(store, hook, intent)
                    except MiraklError:
                        applied = None
                    if applied is not None:
                        return _done(store, hook, intent, str(applied["id"]), on_done,
                                     "found on the order when read back")
                failed = store.mark_money_failed(intent_id_, _error(exc)) or intent
                return Settled(intent_id_, "failed", message=str(exc), intent=failed)
            except MiraklError as exc:
                log.warning("money intent %s: %s; reading the order back before any new send", intent_id_, exc)
                intent = store.note_money_error(intent_id_, _error(exc)) or intent
                continue
            mine = [item for item in created if item.get("order_line_id") == intent["order_line_id"]]
            if not mine:
                intent = store.note_money_error(intent_id_, {"error": "answer without our line"}) or intent
                continue  # read back decides
            return _done(store, hook, intent, str(mine[0][id_key]), on_done, "answered")


def _reason_label(hook: MiraklHook, kind: str, code: str) -> str | None:
    """Best Buy's label of a reason code (RE01, cached by the hook); None when it cannot be read."""
    try:
        reasons = hook.list_reasons("CANCELATION" if kind == CANCEL else "REFUND")
    except (MiraklError, AttributeError) as exc:
        log.warning("reason %s: no label (%s)", code, exc)
        return None
    return next((r.label for r in reasons if r.code == code), None)


def cancel_event(intent: Mapping[str, Any], mirakl_id: str, reason_label: str | None) -> tuple[str, str | None,
                                                                                                   dict[str, Any]]:
    """The order event a settled cancelation writes: who, why (code and label), which units."""
    return (str(OrderEvent.LINES_CANCELED), intent.get("requested_by"), {
        "reason_code": intent["reason_code"], "reason_label": reason_label,
        "lines": [{"order_line_id": intent["order_line_id"], "quantity": int(intent["quantity"])}],
        "amount": str(intent["amount"]), "intent_id": intent["intent_id"], "mirakl_id": mirakl_id,
        "note": intent.get("note"),
    })


def _done(store: OrderStore, hook: MiraklHook, intent: Mapping[str, Any], mirakl_id: str,
          on_done: Callable[[dict[str, Any]], None] | None, how: str) -> Settled:
    event = None
    if intent["kind"] == CANCEL:
        event = cancel_event(intent, mirakl_id, _reason_label(hook, CANCEL, intent["reason_code"]))
    row = store.mark_money_done(intent["intent_id"], mirakl_id, event=event) or dict(intent)
    if on_done is not None:
        on_done(row)
    return Settled(intent["intent_id"], "done", mirakl_id, message=how, intent=row)


def settle_open(store: OrderStore, hook: MiraklHook, *, limit: int = 100,
                on_done: Callable[[dict[str, Any]], None] | None = None) -> list[Settled]:
    """The sweep: every unsettled intent (killed tries, open doubts), read back before any send."""
    return [settle(store, hook, row["intent_id"], on_done=on_done) for row in store.open_money_intents(limit=limit)]
