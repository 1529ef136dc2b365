"""Mirakl sandbox, the order routes: OR11 (list), OR21 (accept), OR23 (tracking), OR24 (ship),
OR29 (cancel) and SH21 (carriers), on :class:`sandbox.mirakl.state.MiraklState`.

OR29 cancels through the after-sale rules (every line's cancelation), hence the after-sale base.
"""

from __future__ import annotations

from collections.abc import Callable

from sandbox.core import Request, Response, json_response, no_content
from sandbox.mirakl.aftersale import AftersaleMixin
from sandbox.mirakl.render import CARRIERS, CARRIERS_BY_CODE
from sandbox.mirakl.state import ORDER_STATES
from sandbox.mirakl.wire import (
    MiraklError,
    bool_param,
    csv_param,
    date_param,
    in_range,
    int_param,
    iso,
    json_body,
    require_length,
)
from sandbox.openapi import OpenAPIValidationError, validate_mirakl

ORDER_ID_LIMIT = 100  # "The limit of 100 is exceeded for the parameter" (sheet §2)
MAX_PAGE = 100  # OR11 max; a hard cap is (unconfirmed): refusing more is the stricter choice
DEFAULT_PAGE = 10

#: (method, path segments with "*" for a parameter, endpoint, handler, rate group); see MiraklService.route.
RouteTable = list[tuple[str, tuple[str, ...], str, Callable[..., Response], str | None]]


class OrderRoutes(AftersaleMixin):
    """OR11/OR21/OR23/OR24/OR29/SH21."""

    def order_routes(self) -> RouteTable:
        return [
            ("GET", ("api", "orders"), "OR11", self.list_orders, None),
            ("PUT", ("api", "orders", "*", "accept"), "OR21", self.accept_order, "OR21"),
            ("PUT", ("api", "orders", "*", "tracking"), "OR23", self.update_tracking, "OR23"),
            ("PUT", ("api", "orders", "*", "ship"), "OR24", self.ship_order, "OR24"),
            ("PUT", ("api", "orders", "*", "cancel"), "OR29", self.cancel_order, "OR29"),
            ("GET", ("api", "shipping", "carriers"), "SH21", self.list_carriers, "SH21"),
        ]

    # ------------------------------------------------------------------------------------------
    # OR11
    # ------------------------------------------------------------------------------------------

    def list_orders(self, req: Request) -> Response:
        order_ids = csv_param(req, "order_ids")
        if order_ids is not None and len(order_ids) > ORDER_ID_LIMIT:
            raise MiraklError(400, f"The limit of {ORDER_ID_LIMIT} is exceeded for the parameter : order_ids")
        states = csv_param(req, "order_state_codes")
        for state in states or []:
            if state not in ORDER_STATES:
                raise MiraklError(400, f"Invalid value for parameter order_state_codes: {state}", "VALIDATION_ERROR")
        bounds = {name: date_param(req, name) for name in
                  ("start_date", "end_date", "start_update_date", "end_update_date")}
        if bounds["start_update_date"] is not None:
            # Mirakl subtracts a safety delta so nothing is missed (OpenAPI): callers must dedupe.
            bounds["start_update_date"] -= self.update_date_safety
        customer_debited = bool_param(req, "customer_debited")
        paginate = bool_param(req, "paginate")
        paginate = True if paginate is None else paginate
        max_items = int_param(req, "max", DEFAULT_PAGE)
        offset = int_param(req, "offset", 0)
        if not 1 <= max_items <= MAX_PAGE:
            raise MiraklError(400, f"Invalid value for parameter max: must be between 1 and {MAX_PAGE}",
                              "VALIDATION_ERROR")
        if offset < 0:
            raise MiraklError(400, "Invalid value for parameter offset", "VALIDATION_ERROR")
        sort = req.param("sort") or "dateCreated"
        if sort != "dateCreated":
            raise MiraklError(400, f"Invalid sort field: {sort}", "VALIDATION_ERROR")
        descending = (req.param("order") or "asc").lower() == "desc"

        with self.lock:
            self.settle()
            wanted = set(order_ids) if order_ids is not None else None
            selected = []
            for order_id, record in self.orders.items():
                order = record["order"]
                if wanted is not None and order_id not in wanted:
                    continue
                if states and order["order_state"] not in states:
                    continue
                if not in_range(record["created_ts"], bounds["start_date"], bounds["end_date"]):
                    continue
                if not in_range(record["updated_ts"], bounds["start_update_date"], bounds["end_update_date"]):
                    continue
                if customer_debited is not None and (order["customer_debited_date"] is not None) != customer_debited:
                    continue
                selected.append(record)
            selected.sort(key=lambda rec: (rec["created_ts"], rec["order"]["order_id"]), reverse=descending)
            page = selected[offset: offset + max_items] if paginate else selected
            body = {"orders": [rec["order"] for rec in page], "total_count": len(selected)}
            return json_response(200, body)

    # ------------------------------------------------------------------------------------------
    # OR21 / OR23 / OR24 / OR29
    # ------------------------------------------------------------------------------------------

    def accept_order(self, req: Request, order_id: str) -> Response:
        payload = json_body(req)
        with self.lock:
            self.settle()
            record = self._record(order_id)
            order = record["order"]
            if not isinstance(payload, dict) or not isinstance(payload.get("order_lines"), list):
                raise MiraklError(400, "order_lines is required", "VALIDATION_ERROR")
            decisions = payload["order_lines"]
            if any(item is None for item in decisions):
                raise MiraklError(400, "The order lines list contains a null element", "ORDER_LINE_NULL_ELEMENT")
            for item in decisions:
                if (not isinstance(item, dict) or not isinstance(item.get("id"), str)
                        or not isinstance(item.get("accepted"), bool)):
                    raise MiraklError(400, "each order line needs an id (string) and accepted (boolean)",
                                      "VALIDATION_ERROR")
            if order["order_state"] != "WAITING_ACCEPTANCE":
                raise MiraklError(400, f"Order {order_id} is in state {order['order_state']}, "
                                       "expected WAITING_ACCEPTANCE", "ORDER_INVALID_STATE")
            ids = [item["id"] for item in decisions]
            if len(set(ids)) != len(ids):
                raise MiraklError(400, "The order lines list contains duplicate order line IDs",
                                  "ORDER_LINE_DUPLICATE_ID")
            line_ids = {line["order_line_id"] for line in order["order_lines"]}
            unknown = [line_id for line_id in ids if line_id not in line_ids]
            if unknown:
                raise MiraklError(400, f"Order line {unknown[0]} does not exist or is not associated with "
                                       f"order {order_id}", "ORDER_LINE_NOT_FOUND")
            if set(ids) != line_ids:
                raise MiraklError(400, "Some order lines are missing from the acceptance decision",
                                  "ORDER_LINE_ACCEPTANCE_DECISION_MISSING")
            accepted = {item["accepted"] for item in decisions}
            if len(accepted) > 1 and not self.partial_acceptance:
                # Partial acceptance is off unless configured (Best Buy CA setting unconfirmed).
                raise MiraklError(400, "Partial acceptance is disabled for this shop",
                                  "ORDER_PARTIAL_ACCEPTANCE_DISABLED")
            now = self.now()
            order["acceptance_decision_date"] = iso(now)
            if accepted == {False}:
                self._set_state(record, "REFUSED", now)
                return no_content()
            self._set_state(record, "WAITING_DEBIT_PAYMENT", now)
            if len(accepted) > 1:
                # Refused lines of a partially accepted order end REFUSED at once.
                by_id = {item["id"]: item["accepted"] for item in decisions}
                for line in order["order_lines"]:
                    if not by_id[line["order_line_id"]]:
                        line["order_line_state"] = "REFUSED"
            record["debit_due"] = now + self.debit_delay
            record["fate"] = self._fate(order_id)
            self._pending_debit.add(order_id)
            if self.debit_delay <= 0:
                self.settle()
            return no_content()

    def update_tracking(self, req: Request, order_id: str) -> Response:
        payload = json_body(req)
        if not isinstance(payload, dict):
            raise MiraklError(400, "a JSON object is required", "VALIDATION_ERROR")
        try:
            validate_mirakl("/api/orders/{order_id}/tracking", "PUT", 204, payload, kind="request")
        except OpenAPIValidationError as exc:
            raise MiraklError(400, "; ".join(exc.errors), "VALIDATION_ERROR") from exc
        tracking_number = payload.get("tracking_number")
        if not tracking_number:
            # The schema requires nothing, but tracking without a number is meaningless; refuse.
            raise MiraklError(400, "tracking_number is required", "VALIDATION_ERROR")
        carrier_code = payload.get("carrier_code")
        with self.lock:
            self.settle()
            record = self._record(order_id)
            order = record["order"]
            if order["order_state"] not in ("SHIPPING", "SHIPPED"):
                # (unconfirmed) which states accept OR23; before the debit there is nothing to ship.
                raise MiraklError(400, f"Order {order_id} is in state {order['order_state']}, tracking can "
                                       "only be set on SHIPPING or SHIPPED orders", "ORDER_INVALID_STATE")
            if carrier_code:
                carrier = CARRIERS_BY_CODE.get(carrier_code)
                if carrier is None:
                    raise MiraklError(400, f"Carrier {carrier_code} is unknown (see SH21)", "CARRIER_NOT_FOUND")
                order["shipping_carrier_code"] = carrier["code"]
                order["shipping_carrier_standard_code"] = carrier["standard_code"]
                order["shipping_company"] = carrier["label"]
                order["shipping_tracking_url"] = carrier["tracking_url"].replace("{trackingId}", tracking_number)
            else:
                if not payload.get("carrier_name"):
                    raise MiraklError(400, "carrier_code or carrier_name is required", "VALIDATION_ERROR")
                order["shipping_carrier_code"] = None
                order["shipping_carrier_standard_code"] = payload.get("carrier_standard_code")
                order["shipping_company"] = payload["carrier_name"]
                order["shipping_tracking_url"] = payload.get("carrier_url")
            order["shipping_tracking"] = tracking_number
            record["tracking_updates"] += 1
            now = self.now()
            order["last_updated_date"] = iso(now)
            record["updated_ts"] = now
            return no_content()

    def ship_order(self, req: Request, order_id: str) -> Response:
        require_length(req)
        with self.lock:
            self.settle()
            record = self._record(order_id)
            order = record["order"]
            if order["order_state"] != "SHIPPING":
                raise MiraklError(400, f"Order {order_id} is in state {order['order_state']}, expected SHIPPING",
                                  "ORDER_INVALID_STATE")
            if not order["shipping_tracking"]:
                # Best Buy: tracking must be entered before confirming shipment (sheet §8); the
                # real check and its code are (unconfirmed): refuse, which is the strict choice.
                raise MiraklError(400, "Tracking information must be set (OR23) before the shipment is "
                                       "confirmed", "ORDER_TRACKING_MISSING")
            self._set_state(record, "SHIPPED", self.now())
            record["ship_confirmations"] += 1
            return no_content()

    def cancel_order(self, req: Request, order_id: str) -> Response:
        require_length(req)
        with self.lock:
            self.settle()
            record = self._record(order_id)
            order = record["order"]
            if not order["can_cancel"]:
                # (unconfirmed) the shop may cancel paid, unshipped orders only (can_cancel).
                raise MiraklError(400, f"Order {order_id} cannot be canceled in state {order['order_state']}",
                                  "ORDER_INVALID_STATE")
            self.cancel_whole_order(record)
            return no_content()

    # ------------------------------------------------------------------------------------------
    # SH21
    # ------------------------------------------------------------------------------------------

    def list_carriers(self, req: Request) -> Response:
        return json_response(200, {"carriers": CARRIERS})

