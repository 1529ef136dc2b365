"""Mirakl seller API after the sale: cancelations, refunds, reasons, returns, incidents (issue 13).

Pure builders and parsers beside :mod:`orderflow.hooks.mirakl_api` (same ``MiraklRequest``, and the
error tree of :mod:`orderflow.hooks.mirakl_errors`); the thin I/O is on
:class:`orderflow.hooks.mirakl.MiraklHook`. Wire formats follow the MMP seller OpenAPI: OR28
``PUT /api/orders/refund``, OR29 ``PUT /api/orders/{order_id}/cancel``, OR30 ``PUT /api/orders/cancel``,
OR64 ``PUT /api/orders/{order_id}/lines/{line}/resolve_incident``, RE01 ``GET /api/reasons``, RE02
``GET /api/reasons/{reason_type}``, RT11 ``GET /api/returns`` (seek pagination), RT25/RT26/RT27
``PUT /api/returns/receive|compliance|close``.

OR28, OR29 and OR30 move money and carry no idempotency key: their builders say
``idempotent=False``, so the hook never repeats them after an ambiguous failure; the caller reads
the order back (OR11 ``refunds``/``cancelations``) before anything is sent again
(see :mod:`orderflow.aftersale`). The return PUTs and OR64 set a state: a repeat is harmless.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from orderflow.hooks.mirakl_api import (
    MiraklRequest,
    _bad_body,
    _path_id,
    format_datetime,
    parse_json,
)
from orderflow.hooks.mirakl_errors import MiraklValidationError
from orderflow.hooks.mirakl_records import MalformedReturn, return_from_payload
from orderflow.lifecycle import MiraklReturnState

RETURNS_PER_REQUEST = 100  # "Limited to 100 returns at a time" (RT25/RT26/RT27)
RETURNS_PAGE_SIZE = 100
REASON_TYPES = frozenset({
    "INCIDENT_OPEN", "MPS_INCIDENT_OPEN", "INCIDENT_CLOSE", "MPS_INCIDENT_CLOSE", "REFUND", "MPS_REFUND",
    "ORDER_MESSAGING", "MPS_ORDER_MESSAGING", "MPS_OFFER_MESSAGING", "OFFER_MESSAGING", "CANCELATION",
    "MMP_SELLER_MESSAGING", "MPS_SELLER_MESSAGING", "RETURN", "RETURN_REJECTION", "RETURN_NON_COMPLIANT",
})
RETURN_STATES = frozenset(str(s) for s in MiraklReturnState)
NON_COMPLIANCE_REASONS = frozenset({
    "RETURN_NON_COMPLIANT_MISSING_ITEM", "RETURN_NON_COMPLIANT_WRONG_PRODUCT", "RETURN_NON_COMPLIANT_DAMAGED_PRODUCT",
    "RETURN_NON_COMPLIANT_WINDOW_CLOSED", "RETURN_NON_COMPLIANT_OTHER",
})
CENT = Decimal("0.01")


def money(value: Any) -> Decimal:
    """An amount as Decimal cents (floats from JSON are rounded half up to the cent)."""
    return Decimal(str(value if value is not None else 0)).quantize(CENT, rounding=ROUND_HALF_UP)


# ------------------------------------------------------------------------------------------------
# Money-moving requests
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LineMoney:
    """One refund (OR28) or cancelation (OR30) of one order line. Amounts tax excluded, in CAD."""

    order_line_id: str
    amount: Decimal
    shipping_amount: Decimal
    reason_code: str
    quantity: int = 0
    taxes: tuple[tuple[str, Decimal], ...] = ()
    shipping_taxes: tuple[tuple[str, Decimal], ...] = ()

    def check(self, what: str) -> None:
        if not isinstance(self.order_line_id, str) or not self.order_line_id:
            raise MiraklValidationError(f"{what}: order_line_id is required")
        if not isinstance(self.reason_code, str) or not self.reason_code:
            raise MiraklValidationError(f"{what} of line {self.order_line_id}: a reason code is required")
        for name, value in (("amount", self.amount), ("shipping_amount", self.shipping_amount),
                            *self.taxes, *self.shipping_taxes):
            if not isinstance(value, Decimal) or value < 0 or value != value.quantize(CENT):
                raise MiraklValidationError(f"{what} of line {self.order_line_id}: {name} must be >= 0 in cents")
        if isinstance(self.quantity, bool) or not isinstance(self.quantity, int) or self.quantity < 0:
            raise MiraklValidationError(f"{what} of line {self.order_line_id}: quantity must be >= 0")

    def wire(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "order_line_id": self.order_line_id,
            "amount": float(self.amount),
            "shipping_amount": float(self.shipping_amount),
            "reason_code": self.reason_code,
            "quantity": self.quantity,
            "currency_iso_code": "CAD",
        }
        if self.taxes:
            body["taxes"] = [{"code": code, "amount": float(amount)} for code, amount in self.taxes]
        if self.shipping_taxes:
            body["shipping_taxes"] = [{"code": code, "amount": float(amount)} for code, amount in self.shipping_taxes]
        return body


def _check_batch(items: Sequence[LineMoney], what: str) -> list[LineMoney]:
    if isinstance(items, LineMoney):
        items = [items]
    batch = list(items)
    if not batch:
        raise MiraklValidationError(f"{what}: nothing to send")
    for item in batch:
        item.check(what)
    return batch


def build_refund_lines(refunds: Sequence[LineMoney]) -> MiraklRequest:
    """OR28 ``PUT /api/orders/refund``. Moves money: never repeated blindly (``idempotent=False``)."""
    batch = _check_batch(refunds, "refund")
    for item in batch:
        if item.amount == 0 and item.shipping_amount == 0:
            raise MiraklValidationError(f"refund of line {item.order_line_id}: amount and shipping both 0")
    body = {"order_tax_mode": "TAX_EXCLUDED", "refunds": [item.wire() for item in batch]}
    return MiraklRequest("OR28", "PUT", "/api/orders/refund", "/api/orders/refund", json_body=body,
                         expected_statuses=(200,), idempotent=False)


def build_cancel_lines(cancelations: Sequence[LineMoney]) -> MiraklRequest:
    """OR30 ``PUT /api/orders/cancel``: quantity >= 1 per line (required by the file)."""
    batch = _check_batch(cancelations, "cancelation")
    for item in batch:
        if item.quantity < 1:
            raise MiraklValidationError(f"cancelation of line {item.order_line_id}: quantity must be >= 1")
    body = {"order_tax_mode": "TAX_EXCLUDED", "cancelations": [item.wire() for item in batch]}
    return MiraklRequest("OR30", "PUT", "/api/orders/cancel", "/api/orders/cancel", json_body=body,
                         expected_statuses=(200,), idempotent=False)


def build_cancel_order(order_id: str) -> MiraklRequest:
    """OR29 ``PUT /api/orders/{order_id}/cancel`` (no body, no reason; the whole order)."""
    return MiraklRequest("OR29", "PUT", "/api/orders/{order_id}/cancel",
                         f"/api/orders/{_path_id(order_id, 'order_id')}/cancel",
                         expected_statuses=(204, 200), idempotent=False)


def build_resolve_incident(order_id: str, order_line_id: str, reason_code: str) -> MiraklRequest:
    """OR64: mark the incident of one line resolved with an INCIDENT_CLOSE reason."""
    if not isinstance(reason_code, str) or not reason_code:
        raise MiraklValidationError(f"order {order_id}: an incident close reason code is required")
    return MiraklRequest(
        "OR64", "PUT", "/api/orders/{order_id}/lines/{line}/resolve_incident",
        f"/api/orders/{_path_id(order_id, 'order_id')}/lines/{_path_id(order_line_id, 'line')}/resolve_incident",
        json_body={"reason_code": reason_code}, expected_statuses=(204, 200),
        idempotent=True,  # sets a state; a repeat is ORDER_LINE_INVALID_STATE, settled by re-reading OR11
    )


# ------------------------------------------------------------------------------------------------
# Reasons
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Reason:
    code: str
    label: str
    type: str | None = None
    is_shop_right: bool = True


def build_list_reasons() -> MiraklRequest:
    """RE01 ``GET /api/reasons`` (every type; callers cache it)."""
    return MiraklRequest("RE01", "GET", "/api/reasons", "/api/reasons")


def build_list_reasons_by_type(reason_type: str) -> MiraklRequest:
    """RE02 ``GET /api/reasons/{reason_type}`` (deprecated by Mirakl in favour of RE01)."""
    if reason_type not in REASON_TYPES:
        raise MiraklValidationError(f"unknown reason type {reason_type!r}")
    return MiraklRequest("RE02", "GET", "/api/reasons/{reason_type}", f"/api/reasons/{_path_id(reason_type, 'type')}")


def parse_reasons(operation: str, status: int, text: str, request_id: str | None = None) -> list[Reason]:
    payload = parse_json(operation, status, text, request_id)
    items = payload.get("reasons") if isinstance(payload, dict) else None
    if not isinstance(items, list):
        raise _bad_body(operation, status, "'reasons' list missing", text, request_id)
    reasons = []
    for index, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("code"), str) or not item["code"]:
            raise _bad_body(operation, status, f"reasons[{index}] has no code", text, request_id)
        reasons.append(Reason(item["code"], str(item.get("label") or item["code"]), item.get("type"),
                              item.get("is_shop_right") is not False))
    return reasons


# ------------------------------------------------------------------------------------------------
# Returns
# ------------------------------------------------------------------------------------------------
def build_list_returns(
    *,
    updated_since: datetime | None = None,
    states: Sequence[str] | None = None,
    return_ids: Sequence[str] | None = None,
    order_commercial_ids: Sequence[str] | None = None,
    page_token: str | None = None,
    limit: int = RETURNS_PAGE_SIZE,
) -> MiraklRequest:
    """RT11 ``GET /api/returns``: one page; multi-valued filters repeat the parameter (documented)."""
    params: list[tuple[str, str]] = []
    for state in states or ():
        if state not in RETURN_STATES:
            raise MiraklValidationError(f"unknown return state {state!r}")
        params.append(("return_state", state))
    params += [("return_id", rid) for rid in return_ids or ()]
    params += [("order_commercial_id", cid) for cid in order_commercial_ids or ()]
    if updated_since is not None:
        params.append(("return_last_updated_from", format_datetime(updated_since)))
    params.append(("limit", str(limit)))
    if page_token:
        params.append(("page_token", page_token))
    return MiraklRequest("RT11", "GET", "/api/returns", "/api/returns", tuple(params))


@dataclass(frozen=True)
class ReturnsPage:
    returns: list[dict[str, Any]]
    next_page_token: str | None


def parse_returns_page(status: int, text: str, request_id: str | None = None) -> ReturnsPage:
    """RT11 200 body ``{"data": [return], "next_page_token"?}``. Each return must pass
    :func:`orderflow.hooks.mirakl_records.return_from_payload` (the one rule of what a return needs);
    a page holding one that does not is a ``MiraklResponseError``. The returns come back as Best Buy
    sent them: callers make the records the store saves with that parser."""
    payload = parse_json("RT11", status, text, request_id)
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, list):
        raise _bad_body("RT11", status, "'data' list missing", text, request_id)
    for index, ret in enumerate(data):
        if not isinstance(ret, dict):
            raise _bad_body("RT11", status, f"data[{index}] has no return id", text, request_id)
        try:
            return_from_payload(ret)
        except MalformedReturn as exc:
            why = str(exc) if exc.return_id is not None else f"data[{index}] has no return id"
            raise _bad_body("RT11", status, why, text, request_id) from None
    token = payload.get("next_page_token")
    if token is not None and not isinstance(token, str):
        raise _bad_body("RT11", status, "next_page_token is not a string", text, request_id)
    return ReturnsPage(returns=data, next_page_token=token or None)


def _return_ids(ids: Sequence[str], operation: str) -> list[dict[str, str]]:
    if isinstance(ids, str):
        ids = [ids]
    items = list(dict.fromkeys(ids))
    if not 1 <= len(items) <= RETURNS_PER_REQUEST:
        raise MiraklValidationError(f"{operation}: 1..{RETURNS_PER_REQUEST} return ids, got {len(items)}")
    for rid in items:
        if not isinstance(rid, str) or not rid:
            raise MiraklValidationError(f"{operation}: invalid return id {rid!r}")
    return [{"id": rid} for rid in items]


def build_receive_returns(return_ids: Sequence[str]) -> MiraklRequest:
    """RT25 ``PUT /api/returns/receive``."""
    return MiraklRequest("RT25", "PUT", "/api/returns/receive", "/api/returns/receive",
                         json_body={"returns": _return_ids(return_ids, "RT25")}, idempotent=True)


def build_close_returns(return_ids: Sequence[str]) -> MiraklRequest:
    """RT27 ``PUT /api/returns/close``."""
    return MiraklRequest("RT27", "PUT", "/api/returns/close", "/api/returns/close",
                         json_body={"returns": _return_ids(return_ids, "RT27")}, idempotent=True)


@dataclass(frozen=True)
class LineCompliance:
    order_line_id: str
    compliant: bool
    reason_code: str | None = None
    note: str | None = None


def build_return_compliance(judgements: Mapping[str, Sequence[LineCompliance]]) -> MiraklRequest:
    """RT26 ``PUT /api/returns/compliance``: ``{return id: [line judgement]}``; non-compliant needs a reason."""
    if not 1 <= len(judgements) <= RETURNS_PER_REQUEST:
        raise MiraklValidationError(f"RT26: 1..{RETURNS_PER_REQUEST} returns, got {len(judgements)}")
    returns = []
    for rid, lines in judgements.items():
        if not lines:
            raise MiraklValidationError(f"RT26: return {rid} has no line judged")
        wire_lines = []
        for line in lines:
            item: dict[str, Any] = {"order_line_id": line.order_line_id, "compliant": bool(line.compliant)}
            if not line.compliant:
                if line.reason_code not in NON_COMPLIANCE_REASONS:
                    raise MiraklValidationError(f"RT26: line {line.order_line_id} needs a non-compliance reason")
                item["non_compliance_reason_code"] = line.reason_code
                if line.note:
                    item["non_compliance_additional_info"] = line.note[:2000]
            wire_lines.append(item)
        returns.append({"id": rid, "return_lines": wire_lines})
    return MiraklRequest("RT26", "PUT", "/api/returns/compliance", "/api/returns/compliance",
                         json_body={"returns": returns}, idempotent=True)


@dataclass(frozen=True)
class ReturnsUpdate:
    succeeded: list[str]
    errors: dict[str, str] = field(default_factory=dict)


def parse_returns_update(operation: str, status: int, text: str, request_id: str | None = None) -> ReturnsUpdate:
    """RT25/RT26/RT27 200 body ``{"return_success": [{id}], "return_errors": [{id, message}]}``."""
    payload = parse_json(operation, status, text, request_id)
    if not isinstance(payload, dict):
        raise _bad_body(operation, status, "expected an object", text, request_id)
    success = payload.get("return_success") or []
    errors = payload.get("return_errors") or []
    if not isinstance(success, list) or not isinstance(errors, list):
        raise _bad_body(operation, status, "return_success/return_errors are not lists", text, request_id)
    ok = [str(item.get("id")) for item in success if isinstance(item, dict) and item.get("id")]
    failed = {str(item.get("id")): str(item.get("message") or "refused") for item in errors if isinstance(item, dict)}
    return ReturnsUpdate(ok, failed)


# ------------------------------------------------------------------------------------------------
# Answers of OR28/OR30 and what an OR11 line says
# ------------------------------------------------------------------------------------------------
def parse_money_created(operation: str, status: int, text: str, request_id: str | None = None) -> list[dict[str, Any]]:
    """OR28 ``refunds`` (``refund_id``) or OR30 ``cancelations`` (``cancelation_id``), each with its line."""
    key, id_key = ("refunds", "refund_id") if operation == "OR28" else ("cancelations", "cancelation_id")
    payload = parse_json(operation, status, text, request_id)
    items = payload.get(key) if isinstance(payload, dict) else None
    if not isinstance(items, list):
        raise _bad_body(operation, status, f"'{key}' list missing", text, request_id)
    for index, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get(id_key), str) or not item.get("order_line_id"):
            raise _bad_body(operation, status, f"{key}[{index}] has no {id_key} or order_line_id", text, request_id)
    return items


@dataclass(frozen=True)
class LineBalance:
    """What an OR11 order line still allows: amounts left after refunds and cancelations."""

    order_line_id: str
    amount_left: Decimal
    shipping_left: Decimal
    taxes_left: tuple[tuple[str, Decimal], ...]
    quantity_left: int
    can_refund: bool


def line_balance(line: Mapping[str, Any]) -> LineBalance:
    used_amount, used_shipping = Decimal(0), Decimal(0)
    used_taxes: dict[str, Decimal] = {}
    canceled = 0
    for item in [*(line.get("refunds") or []), *(line.get("cancelations") or [])]:
        used_amount += money(item.get("amount"))
        used_shipping += money(item.get("shipping_amount"))
        for tax in item.get("taxes") or []:
            used_taxes[tax["code"]] = used_taxes.get(tax["code"], Decimal(0)) + money(tax.get("amount"))
    for item in line.get("cancelations") or []:
        canceled += int(item.get("quantity") or 0)
    taxes = tuple((t["code"], max(Decimal(0), money(t.get("amount")) - used_taxes.get(t["code"], Decimal(0))))
                  for t in line.get("taxes") or [])
    return LineBalance(
        order_line_id=str(line["order_line_id"]),
        amount_left=max(Decimal(0), money(line.get("price")) - used_amount),
        shipping_left=max(Decimal(0), money(line.get("shipping_price")) - used_shipping),
        taxes_left=taxes,
        quantity_left=max(0, int(line.get("quantity") or 0) - canceled),
        can_refund=bool(line.get("can_refund")),
    )


def taxes_for(balance: LineBalance, amount: Decimal) -> tuple[tuple[str, Decimal], ...]:
    """The line's taxes in proportion to ``amount`` of what is left (all of it when amount is all)."""
    if balance.amount_left <= 0:
        return tuple((code, Decimal(0)) for code, _ in balance.taxes_left)
    if amount >= balance.amount_left:
        return balance.taxes_left
    share = amount / balance.amount_left
    return tuple((code, (left * share).quantize(CENT, rounding=ROUND_HALF_UP)) for code, left in balance.taxes_left)


@dataclass(frozen=True)
class LineIncident:
    order_id: str
    order_line_id: str
    reason_code: str | None
    reason_label: str | None
    since: str | None  # the line's last_updated_date when it entered INCIDENT_OPEN (Mirakl has no opening date)


def open_incidents(order: Mapping[str, Any]) -> list[LineIncident]:
    """The lines of an OR11 order in state INCIDENT_OPEN (``has_incident`` says at least one is)."""
    found = []
    for line in order.get("order_lines") or []:
        if line.get("order_line_state") == "INCIDENT_OPEN":
            found.append(LineIncident(str(order["order_id"]), str(line["order_line_id"]),
                                      line.get("order_line_state_reason_code"),
                                      line.get("order_line_state_reason_label"), line.get("last_updated_date")))
    return found


# ------------------------------------------------------------------------------------------------
# OR21 with refused lines
# ------------------------------------------------------------------------------------------------
def build_accept_lines(order_id: str, decisions: Mapping[str, bool]) -> MiraklRequest:
    """OR21 with a decision per line (some accepted, some refused). Mirakl wants every line of the
    order decided; a shop without partial acceptance gets ``ORDER_PARTIAL_ACCEPTANCE_DISABLED``."""
    if not decisions:
        raise MiraklValidationError(f"order {order_id}: no order lines to decide")
    lines = []
    for line_id, accepted in decisions.items():
        if not isinstance(line_id, str) or not line_id or not isinstance(accepted, bool):
            raise MiraklValidationError(f"order {order_id}: each line needs an id and a yes/no decision")
        lines.append({"accepted": accepted, "id": line_id})
    return MiraklRequest(
        "OR21", "PUT", "/api/orders/{order_id}/accept", f"/api/orders/{_path_id(order_id, 'order_id')}/accept",
        json_body={"order_lines": lines}, expected_statuses=(204, 200),
        idempotent=True,  # sets each line's decision; a repeat is ORDER_INVALID_STATE, settled by OR11
    )
