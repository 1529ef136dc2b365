"""Mirakl sandbox, after the sale: OR28, OR29/OR30, OR64, RE01/RE02, RT11/RT25/RT26/RT27.

A mixin on :class:`sandbox.mirakl.state.MiraklState` (the state keeps the orders; this keeps what
happens to them after the sale, and extends the state's clock, settings and snapshot with it).
Bodies follow ``reference/mirakl-mmp-seller-openapi.json``: every request is validated against its
schema (400 ``VALIDATION_ERROR`` otherwise) and every answer is built to validate against its own.
Refunds and cancelations appear on the OR11 lines (``refunds``/``cancelations``), as on Mirakl, so a
client can read back what it did.

Returns arrive on shipped orders and incidents open on shipped orders at configurable rates
(``return_rate``/``incident_rate``: the chance per shipped order, drawn once per order after
``return_delay``/``incident_delay`` seconds). Where the file leaves behaviour open the code says
"(unconfirmed)" and takes the stricter reading.
"""

from __future__ import annotations

import copy
import random
import uuid
from typing import Any

from sandbox.core import Request, Response, json_response, no_content
from sandbox.mirakl.render import display_name
from sandbox.mirakl.returns import ReturnsMixin
from sandbox.mirakl.state import random_state, set_random_state
from sandbox.mirakl.wire import MiraklError, iso, json_body, money, parse_iso
from sandbox.openapi import OpenAPIValidationError, validate_mirakl

# RE01 reasons (codes and labels of Best Buy CA are (unconfirmed); the types are the file's enum).
# is_shop_right=False: the operator's reason, which a seller may not use (OR64 refuses it).
REASONS: list[dict[str, Any]] = [
    {"code": "CUSTOMER_REQUEST", "label": "Canceled at the customer's request", "type": "CANCELATION",
     "is_shop_right": True},
    {"code": "OUT_OF_STOCK", "label": "Item out of stock", "type": "CANCELATION", "is_shop_right": True},
    {"code": "DAMAGED_BEFORE_SHIPPING", "label": "Item damaged before shipping", "type": "CANCELATION",
     "is_shop_right": True},
    {"code": "FRAUD_SUSPECTED", "label": "Suspected fraud", "type": "CANCELATION", "is_shop_right": False},
    {"code": "ITEM_RETURNED", "label": "Item returned", "type": "REFUND", "is_shop_right": True},
    {"code": "DAMAGED_IN_TRANSIT", "label": "Item damaged in transit", "type": "REFUND", "is_shop_right": True},
    {"code": "MISSING_PART", "label": "Missing part or accessory", "type": "REFUND", "is_shop_right": True},
    {"code": "GOODWILL", "label": "Goodwill gesture", "type": "REFUND", "is_shop_right": True},
    {"code": "ITEM_NOT_RECEIVED", "label": "Item not received", "type": "INCIDENT_OPEN", "is_shop_right": False},
    {"code": "ITEM_DEFECTIVE", "label": "Item defective", "type": "INCIDENT_OPEN", "is_shop_right": False},
    {"code": "WRONG_ITEM", "label": "Wrong item received", "type": "INCIDENT_OPEN", "is_shop_right": False},
    {"code": "REFUNDED", "label": "Customer refunded", "type": "INCIDENT_CLOSE", "is_shop_right": True},
    {"code": "REPLACEMENT_SENT", "label": "Replacement shipped", "type": "INCIDENT_CLOSE", "is_shop_right": True},
    {"code": "ANSWERED", "label": "Customer answered", "type": "INCIDENT_CLOSE", "is_shop_right": True},
    {"code": "OPERATOR_DECISION", "label": "Closed by Best Buy", "type": "INCIDENT_CLOSE", "is_shop_right": False},
    {"code": "RETURN_NON_COMPLIANT_MISSING_ITEM", "label": "Item missing", "type": "RETURN_NON_COMPLIANT",
     "is_shop_right": True},
    {"code": "RETURN_NON_COMPLIANT_DAMAGED_PRODUCT", "label": "Product damaged", "type": "RETURN_NON_COMPLIANT",
     "is_shop_right": True},
]
REFUND_STATES_DONE = "REFUNDED"
_CENT = 0.005  # amounts compare to the cent


class AftersaleMixin(ReturnsMixin):
    """OR28/OR29/OR30/OR64/RE01/RE02/RT11/RT25/RT26/RT27 and the clock-driven returns and incidents."""

    def _init_aftersale(
        self, *, return_rate: float, incident_rate: float, return_delay: float, incident_delay: float,
        in_store_return_share: float, refund_delay: float,
    ) -> None:
        self.return_rate = return_rate
        self.incident_rate = incident_rate
        self.return_delay = return_delay
        self.incident_delay = incident_delay
        self.in_store_return_share = in_store_return_share
        self.refund_delay = refund_delay
        self.returns: dict[str, dict[str, Any]] = {}  # return id -> {"ret": API dict, "created_ts", "updated_ts"}
        self._aftersale_ids = random.Random(f"aftersale:{self.seed}")

    def aftersale_routes(self) -> list[tuple[str, tuple[str, ...], str, Any, str | None]]:
        return [
            ("PUT", ("api", "orders", "refund"), "OR28", self.refund_lines, "OR28"),
            ("PUT", ("api", "orders", "cancel"), "OR30", self.cancel_lines, "OR30"),
            ("PUT", ("api", "orders", "*", "lines", "*", "resolve_incident"), "OR64", self.resolve_incident, "OR64"),
            ("GET", ("api", "reasons"), "RE01", self.list_reasons, "RE01"),
            ("GET", ("api", "reasons", "*"), "RE02", self.list_reasons_by_type, "RE02"),
            ("GET", ("api", "returns"), "RT11", self.list_returns, "RT11"),
            ("PUT", ("api", "returns", "receive"), "RT25", self.receive_returns, "RT25"),
            ("PUT", ("api", "returns", "compliance"), "RT26", self.return_compliance, "RT26"),
            ("PUT", ("api", "returns", "close"), "RT27", self.close_returns, "RT27"),
        ]

    # -- what after-sale adds to the state's steps ------------------------------------------------
    def settings(self) -> dict[str, Any]:
        return {
            **super().settings(),
            "return_rate": self.return_rate,
            "incident_rate": self.incident_rate,
            "return_delay": self.return_delay,
            "incident_delay": self.incident_delay,
            "in_store_return_share": self.in_store_return_share,
            "refund_delay": self.refund_delay,
        }

    def _validated(self, req: Request, path: str, status: int) -> dict[str, Any]:
        payload = json_body(req)
        if not isinstance(payload, dict):
            raise MiraklError(400, "a JSON object is required", "VALIDATION_ERROR")
        try:
            validate_mirakl(path, "PUT", status, payload, kind="request")
        except OpenAPIValidationError as exc:
            raise MiraklError(400, "; ".join(exc.errors), "VALIDATION_ERROR") from exc
        return payload

    def _line(self, line_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
        order_id = line_id.rsplit("-", 1)[0] if "-" in line_id else ""
        record = self.orders.get(order_id)
        if record is not None:
            for line in record["order"]["order_lines"]:
                if line["order_line_id"] == line_id:
                    return record, line
        raise MiraklError(400, f"Order line {line_id} does not exist", "ORDER_LINE_NOT_FOUND")

    def _reason(self, code: str, kind: str) -> dict[str, Any]:
        for reason in REASONS:
            if reason["code"] == code and reason["type"] == kind:
                if not reason["is_shop_right"]:
                    raise MiraklError(400, f"Reason {code} is not available to the shop", "REASON_NOT_ALLOWED")
                return reason
        raise MiraklError(400, f"Reason {code} is not a {kind} reason", "REASON_CODE_NOT_FOUND")

    def _next_id(self) -> str:
        return str(uuid.UUID(int=self._aftersale_ids.getrandbits(128), version=4))

    @staticmethod
    def _taxes_in(items: list[dict[str, Any]] | None) -> dict[str, float]:
        out: dict[str, float] = {}
        for item in items or []:
            out[str(item.get("code"))] = out.get(str(item.get("code")), 0.0) + float(item.get("amount") or 0)
        return out

    def _check_taxes(self, line: dict[str, Any], asked: dict[str, float], used: dict[str, float], what: str) -> None:
        line_taxes = {t["code"]: float(t["amount"]) for t in line.get("taxes") or []}
        if line_taxes and not asked:
            # "This field is required if the order has taxes" (OR28/OR30).
            raise MiraklError(400, f"{what} on line {line['order_line_id']}: taxes are required", "VALIDATION_ERROR")
        for code, amount in asked.items():
            if code not in line_taxes:
                raise MiraklError(400, f"{what}: tax {code} is not on line {line['order_line_id']}",
                                 "VALIDATION_ERROR")
            if amount < 0 or amount + used.get(code, 0.0) > line_taxes[code] + _CENT:
                raise MiraklError(400, f"{what}: tax {code} exceeds what line {line['order_line_id']} allows",
                                 "AMOUNT_TOO_HIGH")

    @staticmethod
    def line_used(line: dict[str, Any]) -> dict[str, Any]:
        """What refunds and cancelations already took from a line."""
        used = {"amount": 0.0, "shipping": 0.0, "quantity": 0, "canceled_quantity": 0, "taxes": {}}
        for item in [*line["refunds"], *line["cancelations"]]:
            used["amount"] += float(item.get("amount") or 0)
            used["shipping"] += float(item.get("shipping_amount") or 0)
            for tax in item.get("taxes") or []:
                used["taxes"][tax["code"]] = used["taxes"].get(tax["code"], 0.0) + float(tax["amount"])
        used["canceled_quantity"] = sum(int(c.get("quantity") or 0) for c in line["cancelations"])
        return used

    def _touch(self, record: dict[str, Any], line: dict[str, Any] | None, at: float) -> None:
        record["order"]["last_updated_date"] = iso(at)
        record["updated_ts"] = at
        if line is not None:
            line["last_updated_date"] = iso(at)

    # -- OR30 / OR29 -------------------------------------------------------------------------------
    def cancel_lines(self, req: Request) -> Response:
        payload = self._validated(req, "/api/orders/cancel", 200)
        with self.lock:
            self.settle()
            items = payload["cancelations"]
            if not items:
                raise MiraklError(400, "cancelations must not be empty", "VALIDATION_ERROR")
            planned: list[tuple[dict, dict, dict]] = []
            seen: dict[str, dict[str, float]] = {}
            for item in items:
                record, line = self._line(item["order_line_id"])
                if line["order_line_state"] != "SHIPPING":
                    # (unconfirmed) lines can be canceled while the order awaits shipment only.
                    raise MiraklError(400, f"Order line {line['order_line_id']} is in state "
                                          f"{line['order_line_state']} and cannot be canceled", "ORDER_INVALID_STATE")
                self._reason(item["reason_code"], "CANCELATION")
                used = seen.setdefault(line["order_line_id"], self.line_used(line))
                quantity = int(item["quantity"])
                if quantity < 1 or used["canceled_quantity"] + quantity > int(line["quantity"]):
                    raise MiraklError(400, f"Cannot cancel {quantity} unit(s) of line {line['order_line_id']}",
                                     "QUANTITY_TOO_HIGH")
                amount, shipping = float(item["amount"]), float(item["shipping_amount"])
                if amount < 0 or used["amount"] + amount > float(line["price"]) + _CENT or shipping < 0 \
                        or used["shipping"] + shipping > float(line["shipping_price"] or 0) + _CENT:
                    raise MiraklError(400, f"Amount exceeds what line {line['order_line_id']} allows",
                                     "AMOUNT_TOO_HIGH")
                taxes = self._taxes_in(item.get("taxes"))
                self._check_taxes(line, taxes, used["taxes"], "Cancelation")
                used["canceled_quantity"] += quantity
                used["amount"] += amount
                used["shipping"] += shipping
                for code, value in taxes.items():
                    used["taxes"][code] = used["taxes"].get(code, 0.0) + value
                planned.append((record, line, item))
            now = self.now()
            created = []
            for record, line, item in planned:
                cancelation = self._cancelation(line, item, now)
                line["cancelations"].append(cancelation)
                self._after_cancelation(record, line, item["reason_code"], now)
                created.append({
                    "amount": cancelation["amount"], "cancelation_id": cancelation["id"],
                    "currency_iso_code": "CAD", "order_line_id": line["order_line_id"],
                    "quantity": cancelation["quantity"], "reason_code": cancelation["reason_code"],
                    "shipping_amount": cancelation["shipping_amount"],
                    "taxes": [{"amount": t["amount"], "code": t["code"]} for t in cancelation["taxes"]],
                    "shipping_taxes": [],
                })
            return json_response(200, {"cancelations": created, "order_tax_mode": "TAX_EXCLUDED"})

    def _cancelation(self, line: dict[str, Any], item: dict[str, Any], now: float) -> dict[str, Any]:
        amount = money(float(item["amount"]))
        commission = money(amount * 0.08)
        return {
            "id": self._next_id(), "amount": amount, "shipping_amount": money(float(item["shipping_amount"])),
            "quantity": int(item["quantity"]), "reason_code": item["reason_code"],
            "created_date": iso(now, millis=True),
            "taxes": [{"amount": money(v), "code": c} for c, v in self._taxes_in(item.get("taxes")).items()],
            "shipping_taxes": [],
            "commission_amount": commission, "commission_taxes": [{"amount": money(commission * 0.13),
                                                                   "code": "HST", "rate": 13.0}],
            "commission_total_amount": money(commission * 1.13),
        }

    def _after_cancelation(self, record: dict[str, Any], line: dict[str, Any], reason: str, now: float) -> None:
        used = self.line_used(line)
        if used["canceled_quantity"] >= int(line["quantity"]):
            line["order_line_state"] = "CANCELED"
            line["order_line_state_reason_code"] = reason
            line["order_line_state_reason_label"] = next(r["label"] for r in REASONS if r["code"] == reason)
        self._touch(record, line, now)
        order = record["order"]
        if all(ln["order_line_state"] in ("CANCELED", "REFUSED") for ln in order["order_lines"]):
            order["order_state"] = "CANCELED"
            order["order_state_reason_code"] = "SHOP_CANCELED"
            order["order_state_reason_label"] = "Canceled by the shop"
            order["can_cancel"] = False
            order["can_shop_ship"] = False

    def cancel_whole_order(self, record: dict[str, Any]) -> None:
        """OR29's effect (the service's handler checks can_cancel): every open line canceled."""
        now = self.now()
        for line in record["order"]["order_lines"]:
            if line["order_line_state"] in ("CANCELED", "REFUSED"):
                continue
            used = self.line_used(line)
            left = int(line["quantity"]) - used["canceled_quantity"]
            if left > 0:
                taxes = [{"code": t["code"], "amount": money(float(t["amount"]) - used["taxes"].get(t["code"], 0.0))}
                         for t in line.get("taxes") or []]
                item = {"amount": money(float(line["price"]) - used["amount"]),
                        "shipping_amount": money(float(line["shipping_price"] or 0) - used["shipping"]),
                        "quantity": left, "reason_code": "SHOP_CANCELED", "taxes": taxes}
                line["cancelations"].append(self._cancelation(line, item, now))
            line["order_line_state"] = "CANCELED"
            line["order_line_state_reason_code"] = "SHOP_CANCELED"
            line["order_line_state_reason_label"] = "Canceled by the shop"
        order = record["order"]
        order["order_state"] = "CANCELED"
        order["order_state_reason_code"], order["order_state_reason_label"] = "SHOP_CANCELED", "Canceled by the shop"
        order["can_cancel"] = False
        order["can_shop_ship"] = False
        self._touch(record, None, now)

    # -- OR28 ----------------------------------------------------------------------------------------
    def refund_lines(self, req: Request) -> Response:
        payload = self._validated(req, "/api/orders/refund", 200)
        with self.lock:
            self.settle()
            items = payload["refunds"]
            if not items:
                raise MiraklError(400, "refunds must not be empty", "VALIDATION_ERROR")
            planned: list[tuple[dict, dict, dict]] = []
            seen: dict[str, dict[str, Any]] = {}
            for item in items:
                record, line = self._line(item["order_line_id"])
                if not line["can_refund"] and not line["refunds"]:
                    raise MiraklError(400, f"Order line {line['order_line_id']} is in state "
                                          f"{line['order_line_state']} and cannot be refunded", "ORDER_INVALID_STATE")
                self._reason(item["reason_code"], "REFUND")
                used = seen.setdefault(line["order_line_id"], self.line_used(line))
                amount, shipping = float(item["amount"]), float(item["shipping_amount"])
                if amount < 0 or shipping < 0 or (amount == 0 and shipping == 0):
                    raise MiraklError(400, "amount and shipping_amount must be >= 0, not both 0", "VALIDATION_ERROR")
                if used["amount"] + amount > float(line["price"]) + _CENT \
                        or used["shipping"] + shipping > float(line["shipping_price"] or 0) + _CENT:
                    raise MiraklError(400, f"Refund exceeds what line {line['order_line_id']} allows",
                                     "AMOUNT_TOO_HIGH")
                taxes = self._taxes_in(item.get("taxes"))
                self._check_taxes(line, taxes, used["taxes"], "Refund")
                used["amount"] += amount
                used["shipping"] += shipping
                for code, value in taxes.items():
                    used["taxes"][code] = used["taxes"].get(code, 0.0) + value
                planned.append((record, line, item))
            now = self.now()
            group = self._next_id()
            created = []
            for record, line, item in planned:
                refund = self.add_refund(record, line, item, now, group)
                created.append({
                    "amount": refund["amount"], "currency_iso_code": "CAD", "order_line_id": line["order_line_id"],
                    "order_refund_id": group, "quantity": refund["quantity"], "reason_code": refund["reason_code"],
                    "refund_id": refund["id"], "shipping_amount": refund["shipping_amount"],
                    "taxes": [{"amount": t["amount"], "code": t["code"]} for t in refund["taxes"]],
                    "shipping_taxes": [],
                })
            return json_response(200, {"order_tax_mode": "TAX_EXCLUDED", "refunds": created})

    def add_refund(
        self, record: dict[str, Any], line: dict[str, Any], item: dict[str, Any], now: float, group: str | None = None
    ) -> dict[str, Any]:
        """Record a refund on a line (OR28, or the operator's own for an in-store return)."""
        amount = money(float(item["amount"]))
        commission = money(amount * 0.08)
        state = "REFUNDED" if self.refund_delay <= 0 else "WAITING_REFUND"
        refund = {
            "id": self._next_id(), "order_refund_id": group or self._next_id(),
            "amount": amount, "shipping_amount": money(float(item.get("shipping_amount") or 0)),
            "quantity": int(item.get("quantity") or 0), "reason_code": item["reason_code"],
            "created_date": iso(now, millis=True), "refund_state": state, "state": state,
            "taxes": [{"amount": money(v), "code": c} for c, v in self._taxes_in(item.get("taxes")).items()],
            "shipping_taxes": [],
            "commission_amount": commission, "commission_tax_amount": money(commission * 0.13),
            "commission_taxes": [{"amount": money(commission * 0.13), "code": "HST", "rate": 13.0}],
            "commission_total_amount": money(commission * 1.13),
            "transaction_date": None, "transaction_number": None,
        }
        line["refunds"].append(refund)
        record.setdefault("refund_due", {})[refund["id"]] = now + self.refund_delay
        used = self.line_used(line)
        if used["amount"] >= float(line["price"]) - _CENT:
            line["can_refund"] = False
            if line["order_line_state"] != "INCIDENT_OPEN":
                line["order_line_state"] = "REFUNDED"
        order = record["order"]
        active = [ln for ln in order["order_lines"] if ln["order_line_state"] not in ("CANCELED", "REFUSED")]
        order["fully_refunded"] = bool(active) and all(
            self.line_used(ln)["amount"] >= float(ln["price"]) - _CENT for ln in active)
        self._touch(record, line, now)
        return refund

    # -- OR64 and incidents ------------------------------------------------------------------------
    def resolve_incident(self, req: Request, order_id: str, line_id: str) -> Response:
        payload = self._validated(req, "/api/orders/{order_id}/lines/{line}/resolve_incident", 204)
        with self.lock:
            self.settle()
            record = self._record(order_id)
            line = next((ln for ln in record["order"]["order_lines"] if ln["order_line_id"] == line_id), None)
            if line is None:
                raise MiraklError(404, f"Order line {line_id} not found on order {order_id}", "ORDER_LINE_NOT_FOUND")
            if line["order_line_state"] != "INCIDENT_OPEN":
                raise MiraklError(400, f"Order line {line_id} has no open incident", "ORDER_LINE_INVALID_STATE")
            self._reason(payload["reason_code"], "INCIDENT_CLOSE")
            incident = record.setdefault("incidents", {}).get(line_id) or {}
            now = self.now()
            line["order_line_state"] = incident.get("state_before") or "SHIPPED"
            if line["order_line_state"] == "SHIPPED" and self.line_used(line)["amount"] >= float(line["price"]) - _CENT:
                line["order_line_state"] = "REFUNDED"
            line["order_line_state_reason_code"] = None
            line["order_line_state_reason_label"] = None
            incident.update({"resolved_at": now, "resolution": payload["reason_code"]})
            record["order"]["has_incident"] = any(
                ln["order_line_state"] == "INCIDENT_OPEN" for ln in record["order"]["order_lines"])
            self._touch(record, line, now)
            return no_content()

    def open_incident(self, record: dict[str, Any], line: dict[str, Any] | None = None,
                      reason: str = "ITEM_NOT_RECEIVED", at: float | None = None) -> dict[str, Any]:
        """The customer opens an incident on a shipped line: line state, order flag and an M11 thread."""
        at = self.now() if at is None else at
        order = record["order"]
        line = line or order["order_lines"][0]
        label = next(r["label"] for r in REASONS if r["code"] == reason and r["type"] == "INCIDENT_OPEN")
        record.setdefault("incidents", {})[line["order_line_id"]] = {
            "state_before": line["order_line_state"], "opened_at": at, "reason": reason}
        line["order_line_state"] = "INCIDENT_OPEN"
        line["order_line_state_reason_code"] = reason
        line["order_line_state_reason_label"] = label
        order["has_incident"] = True
        self._touch(record, line, at)
        thread = self._new_thread(record, f"Incident: {label}", at)
        thread["topic"] = {"type": "REASON_CODE", "value": reason}
        customer = order["customer"]
        self._append_message(thread, {
            "id": self._uuid(), "body": f"I opened an incident on order {order['commercial_id']}: {label}.",
            "date_created": iso(at, millis=True),
            "from": {"type": "CUSTOMER_USER", "display_name": display_name(customer)},
            "to": [copy.deepcopy(p) for p in thread["authorized_participants"] if p["type"] == "SHOP"],
            "attachments": [],
        }, at)
        thread["metadata"]["shop_reply_needed_since"] = iso(at, millis=True)
        return line

    # -- RE01 / RE02 ---------------------------------------------------------------------------------
    def list_reasons(self, req: Request) -> Response:
        return json_response(200, {"reasons": copy.deepcopy(REASONS), "total_count": len(REASONS)})

    def list_reasons_by_type(self, req: Request, reason_type: str) -> Response:
        kind = reason_type.upper()
        if kind not in {r["type"] for r in REASONS} | {"MESSAGING", "ORDER_MESSAGING"}:
            raise MiraklError(400, f"Invalid reason type {reason_type}", "VALIDATION_ERROR")
        items = [{"code": r["code"], "label": r["label"]} for r in REASONS if r["type"] == kind and r["is_shop_right"]]
        return json_response(200, {"reasons": items, "total_count": len(items)})

    # -- the clock ---------------------------------------------------------------------------------
    def settle_aftersale(self, now: float) -> None:
        for record in self.orders.values():
            for line in record["order"]["order_lines"]:
                for refund in line["refunds"]:
                    due = (record.get("refund_due") or {}).get(refund["id"])
                    if refund["refund_state"] != REFUND_STATES_DONE and due is not None and due <= now:
                        refund["refund_state"] = refund["state"] = REFUND_STATES_DONE
                        refund["transaction_date"] = iso(due)
            if record["order"]["order_state"] != "SHIPPED":
                continue
            shipped = record.get("shipped_ts")
            if shipped is None:
                dates = [ln["shipped_date"] for ln in record["order"]["order_lines"] if ln.get("shipped_date")]
                shipped = record["shipped_ts"] = parse_iso(dates[0]) if dates else now
            if not record.get("incident_drawn") and self.incident_rate > 0 and shipped + self.incident_delay <= now:
                record["incident_drawn"] = True
                draw = random.Random(f"incident:{self.seed}:{record['order']['order_id']}")
                if draw.random() < self.incident_rate:
                    self.open_incident(record, reason=draw.choice(["ITEM_NOT_RECEIVED", "ITEM_DEFECTIVE"]),
                                       at=shipped + self.incident_delay)
            if not record.get("return_drawn") and self.return_rate > 0 and shipped + self.return_delay <= now:
                record["return_drawn"] = True
                draw = random.Random(f"return-fate:{self.seed}:{record['order']['order_id']}")
                if draw.random() < self.return_rate:
                    self.open_return(record, at=shipped + self.return_delay)

    def aftersale_inspect(self) -> dict[str, Any]:
        refunds: dict[str, list[dict[str, Any]]] = {}
        cancelations: dict[str, list[dict[str, Any]]] = {}
        incidents: dict[str, str] = {}
        for order_id, record in self.orders.items():
            for line in record["order"]["order_lines"]:
                for refund in line["refunds"]:
                    refunds.setdefault(order_id, []).append(
                        {"line": line["order_line_id"], "id": refund["id"], "amount": refund["amount"],
                         "reason": refund["reason_code"]})
                for cancelation in line["cancelations"]:
                    cancelations.setdefault(order_id, []).append(
                        {"line": line["order_line_id"], "id": cancelation["id"], "quantity": cancelation["quantity"],
                         "reason": cancelation["reason_code"]})
                if line["order_line_state"] == "INCIDENT_OPEN":
                    incidents[line["order_line_id"]] = line["order_line_state_reason_code"]
        return {
            "refunds": refunds,
            "cancelations": cancelations,
            "open_incidents": incidents,
            "returns": {rid: {"order_id": e["ret"]["order_id"], "state": e["ret"]["state"],
                              "method": e["ret"]["method_code"]} for rid, e in self.returns.items()},
        }

    def aftersale_admin(self, action: str, payload: dict[str, Any]) -> Response | None:
        if action == "return":
            with self.lock:
                self.settle()
                record = self._record(str(payload["order_id"]))
                ret = self.open_return(record, method=payload.get("method"))
            return json_response(200, ret)
        if action == "incident":
            with self.lock:
                self.settle()
                record = self._record(str(payload["order_id"]))
                line_id = payload.get("order_line_id")
                line = next((ln for ln in record["order"]["order_lines"] if ln["order_line_id"] == line_id), None)
                line = self.open_incident(record, line, reason=payload.get("reason", "ITEM_NOT_RECEIVED"))
            return json_response(200, {"order_line_id": line["order_line_id"], "state": line["order_line_state"]})
        return None

    def _settle_at(self, now: float) -> None:
        super()._settle_at(now)
        self.settle_aftersale(now)

    def forget_all(self) -> None:
        super().forget_all()
        self.returns.clear()

    def _snapshot_data(self) -> dict[str, Any]:
        return {**super()._snapshot_data(), "returns": self.returns,
                "aftersale_ids": random_state(self._aftersale_ids)}

    def _restore_data(self, data: dict[str, Any]) -> None:
        super()._restore_data(data)
        self.returns = data.get("returns") or {}
        if data.get("aftersale_ids"):
            set_random_state(self._aftersale_ids, data["aftersale_ids"])
