"""Mirakl sandbox, the admin API (``/__admin/<action>``, no auth) and the state summary it shows.

The core (:class:`sandbox.core.SandboxServer`) answers the actions every service shares (calls,
counts, faults, limits, reset) and hands the rest here: orders, messages, advance, settings, clear,
cancel, and the after-sale ones (return, incident).
"""

from __future__ import annotations

from typing import Any

from sandbox.core import Request, Response, json_response
from sandbox.mirakl.aftersale import AftersaleMixin
from sandbox.mirakl.wire import iso


class AdminApi(AftersaleMixin):
    """``inspect`` (GET /__admin/state) and ``admin`` (the Mirakl actions)."""

    def inspect(self) -> dict[str, Any]:
        with self.lock:
            self.settle()
            states: dict[str, int] = {}
            for record in self.orders.values():
                state = record["order"]["order_state"]
                states[state] = states.get(state, 0) + 1
            return {
                "orders": {
                    order_id: {
                        "state": rec["order"]["order_state"],
                        "reason": rec["order"]["order_state_reason_code"],
                        "tracking": rec["order"]["shipping_tracking"],
                        "carrier_code": rec["order"]["shipping_carrier_code"],
                        "ship_confirmations": rec["ship_confirmations"],
                        "tracking_updates": rec["tracking_updates"],
                        "lines": len(rec["order"]["order_lines"]),
                    }
                    for order_id, rec in self.orders.items()
                },
                "orders_by_state": states,
                "threads": {
                    thread_id: {
                        "order_id": t["entities"][0]["id"],
                        "messages": len(t["messages"]),
                        "shop_reply_needed_since": t["metadata"]["shop_reply_needed_since"],
                        "last_sender": (t["metadata"]["last_sender"] or {}).get("type"),
                    }
                    for thread_id, t in self.threads.items()
                },
                "clock_offset": self.clock_offset,
                "settings": self.settings(),
                **self.aftersale_inspect(),
            }

    def admin(self, req: Request, action: str) -> Response | None:
        if req.method != "POST":
            if req.method == "GET" and action == "settings":
                return json_response(200, self.settings())
            return None
        payload = req.json() if req.body else {}
        if not isinstance(payload, dict):
            raise ValueError("expected a JSON object")
        if action == "orders":
            lines = payload.get("lines")
            parsed = [(item["sku"], int(item.get("quantity", 1))) for item in lines] if lines else None
            ids = self.generate_orders(int(payload.get("count", 1)), lines=parsed)
            return json_response(200, {"order_ids": ids})
        if action == "messages":
            made = self.generate_messages(
                int(payload.get("count", 1)), order_id=payload.get("order_id"), kind=payload.get("kind"),
                new_thread=payload.get("new_thread"),
            )
            return json_response(200, {"messages": [{"thread_id": t, "message_id": m} for t, m in made]})
        if action == "advance":
            self.advance(float(payload.get("seconds", 0)))
            return json_response(200, {"clock_offset": self.clock_offset, "now": iso(self.now(), millis=True)})
        if action == "settings":
            self.configure(**payload)
            return json_response(200, self.settings())
        if action == "clear":
            # Forget every order, thread and return (tests reusing one server between examples);
            # ids keep counting up, so an order id is never reused.
            with self.lock:
                self.forget_all()
            return json_response(200, {"cleared": True})
        if action == "cancel":
            # An operator- or customer-side cancellation (what a seller cannot trigger with OR29).
            with self.lock:
                self.settle()
                record = self._record(str(payload["order_id"]))
                reason = payload.get("reason", "CUSTOMER_CANCELED")
                self._pending_debit.discard(record["order"]["order_id"])
                self._set_state(record, "CANCELED", self.now(), (reason, reason.replace("_", " ").capitalize()))
            return json_response(200, {"order_id": payload["order_id"], "state": "CANCELED"})
        return self.aftersale_admin(action, payload)

