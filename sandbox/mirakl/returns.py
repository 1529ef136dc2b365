"""Mirakl sandbox, returns: RT11 (seek pagination), RT25 receive, RT26 compliance, RT27 close.

Best Buy accepts and labels a customer's return; the seller receives it (RT25), judges it compliant
or not (RT26) and Best Buy's flow closes it (RT27). In-store returns are received and refunded by
Best Buy itself. A mixin on :class:`sandbox.mirakl.state.MiraklState`, the base of
:class:`sandbox.mirakl.aftersale.AftersaleMixin`, whose refunds (``add_refund``, ``line_used``) and
ids (``_next_id``, ``_validated``) it uses.
"""

from __future__ import annotations

import copy
import random
from typing import Any

from sandbox.core import Request, Response, json_response
from sandbox.mirakl.state import MiraklState
from sandbox.mirakl.wire import MiraklError, csv_param, decode_token, encode_token, in_range, iso, money, parse_iso

RETURN_REASONS = ("RETURN_DEFECTIVE_ITEM", "RETURN_CHANGED_MIND", "RETURN_BROKEN_ITEM", "RETURN_DAMAGED_PACKAGING")
RETURN_BATCH_LIMIT = 100  # "Limited to 100 returns at a time" (RT25/RT26/RT27)
RT11_DEFAULT_LIMIT = 50
RT11_MAX_LIMIT = 100  # (unconfirmed)


class ReturnsMixin(MiraklState):
    """RT11/RT25/RT26/RT27 and the making of returns."""

    returns: dict[str, dict[str, Any]]
    in_store_return_share: float

    # -- returns -------------------------------------------------------------------------------------
    def open_return(self, record: dict[str, Any], method: str | None = None, at: float | None = None,
                    lines: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """Best Buy accepts a customer's return and labels it (state IN_PROGRESS). In store: Best Buy
        receives it and refunds the customer itself (state RECEIVED, the refunds on the lines)."""
        at = self.now() if at is None else at
        order = record["order"]
        draw = random.Random(f"return:{self.seed}:{order['order_id']}:{len(self.returns)}")
        if method is None:
            method = "RETURN_METHOD_IN_STORE" if draw.random() < self.in_store_return_share else "RETURN_METHOD_BY_MAIL"
        reason = draw.choice(RETURN_REASONS)
        lines = lines or [ln for ln in order["order_lines"] if ln["order_line_state"] in ("SHIPPED", "RECEIVED")]
        return_id = self._next_id()
        ret = {
            "id": return_id, "date_created": iso(at, millis=True), "last_updated": iso(at, millis=True),
            "order_id": order["order_id"], "order_commercial_id": order["commercial_id"],
            "method_code": method, "reason_code": reason,
            "rma": f"RMA-{order['commercial_id']}-{len(self.returns) + 1}",
            "state": "IN_PROGRESS", "description": None, "documents": [], "rejection_reason_code": None,
            "return_address": {"street1": "100 Warehouse Rd", "street2": None, "city": "Ottawa", "state": "ON",
                               "zip_code": "K1A0B1", "country_iso_code": "CAN"},
            "return_lines": [{"order_line_id": ln["order_line_id"], "quantity": int(ln["quantity"]),
                              "reason_code": reason, "compliance": []} for ln in lines],
            "tracking": None, "label_url": None,
        }
        if method != "RETURN_METHOD_IN_STORE":
            pin = "".join(str(draw.randint(0, 9)) for _ in range(16))
            ret["tracking"] = {"carrier_code": "CPCL", "carrier_name": "Canada Post", "carrier_standard_code": "CPCL",
                               "tracking_number": pin,
                               "tracking_url": f"https://www.canadapost-postescanada.ca/track-reperage/en#/search?searchFor={pin}"}
            ret["label_url"] = f"https://marketplace.bestbuy.ca/returns/{return_id}/label.pdf"
        else:
            ret["state"] = "RECEIVED"
            for line in lines:
                used = self.line_used(line)
                left = money(float(line["price"]) - used["amount"])
                if left > 0:
                    taxes = [{"code": t["code"], "amount": money(float(t["amount"]) - used["taxes"].get(t["code"], 0))}
                             for t in line.get("taxes") or []]
                    self.add_refund(record, line, {"amount": left, "shipping_amount": 0, "quantity": line["quantity"],
                                                   "reason_code": "ITEM_RETURNED", "taxes": taxes}, at)
        self.returns[return_id] = {"ret": ret, "created_ts": at, "updated_ts": at}
        return ret

    def list_returns(self, req: Request) -> Response:
        ids = _multi(req, "return_id")
        states = _multi(req, "return_state")
        commercial = _multi(req, "order_commercial_id")
        line_ids = _multi(req, "order_line_id")
        rmas = _multi(req, "return_rma")
        bounds = {}
        for name in ("return_creation_date_from", "return_creation_date_to", "return_last_updated_from",
                     "return_last_updated_to"):
            value = req.param(name)
            try:
                bounds[name] = parse_iso(value) if value else None
            except ValueError:
                raise MiraklError(400, f"Invalid date for parameter {name}: {value!r}", "VALIDATION_ERROR") from None
        try:
            limit = int(req.param("limit") or RT11_DEFAULT_LIMIT)
        except ValueError:
            raise MiraklError(400, "Invalid integer for parameter limit", "VALIDATION_ERROR") from None
        if not 1 <= limit <= RT11_MAX_LIMIT:
            raise MiraklError(400, f"limit must be between 1 and {RT11_MAX_LIMIT}", "VALIDATION_ERROR")
        token = _decode_return_token(req.param("page_token"))
        with self.lock:
            self.settle()
            selected = []
            for entry in self.returns.values():
                ret = entry["ret"]
                if (ids and ret["id"] not in ids) or (states and ret["state"] not in states):
                    continue
                if (commercial and ret["order_commercial_id"] not in commercial) or (rmas and ret["rma"] not in rmas):
                    continue
                if line_ids and not {rl["order_line_id"] for rl in ret["return_lines"]} & set(line_ids):
                    continue
                if not in_range(entry["created_ts"], bounds["return_creation_date_from"],
                                bounds["return_creation_date_to"]):
                    continue
                if not in_range(entry["updated_ts"], bounds["return_last_updated_from"],
                                bounds["return_last_updated_to"]):
                    continue
                selected.append(entry)
            # Sort by date_created ascending (the documented default), id as the tie-breaker.
            selected.sort(key=lambda e: (e["created_ts"], e["ret"]["id"]))
            keys = [(e["created_ts"], e["ret"]["id"]) for e in selected]
            start = 0
            if token is not None:
                start = next((i for i, key in enumerate(keys) if key > token), len(keys))
            page = selected[start: start + limit]
            body: dict[str, Any] = {"data": [copy.deepcopy(e["ret"]) for e in page]}
            if page and start + len(page) < len(selected):
                body["next_page_token"] = encode_token([*keys[start + len(page) - 1]])
            return json_response(200, body)

    def _return_batch(self, req: Request, path: str) -> list[dict[str, Any]]:
        payload = self._validated(req, path, 200)
        items = payload["returns"]
        if not items or len(items) > RETURN_BATCH_LIMIT:
            raise MiraklError(400, f"returns must hold 1..{RETURN_BATCH_LIMIT} items", "VALIDATION_ERROR")
        return items

    def _apply_returns(self, items: list[dict[str, Any]], apply: Any) -> Response:
        success, errors = [], []
        with self.lock:
            self.settle()
            now = self.now()
            for item in items:
                entry = self.returns.get(str(item["id"]))
                if entry is None:
                    errors.append({"id": item["id"], "message": f"Return {item['id']} not found"})
                    continue
                problem = apply(entry["ret"], item)
                if problem:
                    errors.append({"id": item["id"], "message": problem})
                    continue
                entry["ret"]["last_updated"] = iso(now, millis=True)
                entry["updated_ts"] = now
                success.append({"id": item["id"]})
        body: dict[str, Any] = {"return_success": success}
        if errors:
            body["return_errors"] = errors
        return json_response(200, body)

    def receive_returns(self, req: Request) -> Response:
        def apply(ret: dict[str, Any], item: dict[str, Any]) -> str | None:
            if ret["state"] != "IN_PROGRESS":
                return f"Return {ret['id']} is in state {ret['state']}, expected IN_PROGRESS"
            ret["state"] = "RECEIVED"
            return None

        return self._apply_returns(self._return_batch(req, "/api/returns/receive"), apply)

    def return_compliance(self, req: Request) -> Response:
        def apply(ret: dict[str, Any], item: dict[str, Any]) -> str | None:
            if ret["state"] != "RECEIVED":
                return f"Return {ret['id']} is in state {ret['state']}, expected RECEIVED"
            by_line = {rl["order_line_id"]: rl for rl in ret["return_lines"]}
            for given in item["return_lines"]:
                line = by_line.get(given["order_line_id"])
                if line is None:
                    return f"Order line {given['order_line_id']} is not part of return {ret['id']}"
                if not given["compliant"] and not given.get("non_compliance_reason_code"):
                    return "a non-compliant line needs a non_compliance_reason_code"
            for given in item["return_lines"]:
                entry = {"compliant": bool(given["compliant"])}
                if not given["compliant"]:
                    entry["non_compliance_reason_code"] = given["non_compliance_reason_code"]
                    entry["non_compliance_additional_info"] = given.get("non_compliance_additional_info")
                by_line[given["order_line_id"]]["compliance"] = [entry]
            return None

        return self._apply_returns(self._return_batch(req, "/api/returns/compliance"), apply)

    def close_returns(self, req: Request) -> Response:
        def apply(ret: dict[str, Any], item: dict[str, Any]) -> str | None:
            if ret["state"] != "RECEIVED":
                return f"Return {ret['id']} is in state {ret['state']}, expected RECEIVED"
            ret["state"] = "CLOSED"
            return None

        return self._apply_returns(self._return_batch(req, "/api/returns/close"), apply)


def _multi(req: Request, name: str) -> set[str]:
    """A multi-valued parameter, repeated (``a=1&a=2``, documented) or comma-separated."""
    return set(csv_param(req, name) or [])


def _decode_return_token(token: str | None) -> tuple[float, str] | None:
    if not token:
        return None
    try:
        ts, rid = decode_token(token)
        return float(ts), str(rid)
    except (ValueError, TypeError):
        raise MiraklError(400, "Invalid page_token", "VALIDATION_ERROR") from None
