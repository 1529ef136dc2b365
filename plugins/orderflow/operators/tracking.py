"""tracking: tell Best Buy the parcel's carrier and PIN (OR23), then confirm the shipment (OR24).

Input (``orderflow.lifecycle.step_inputs``): ``label_created`` orders (and ``packed`` ones, written
before migration 010); with the pack-verify gate on, only once their parcel is packed (then a
``label_created`` order waits for the packing station; packing is a fact about the parcel).
Best Buy must never hear "shipped" before a label exists, so an order needs a stored label whose
file still has its validated sha256.

Per claimed batch, one OR11 read by order_ids first:

- SHIPPED (or later) at Best Buy: recorded ``shipped``, nothing re-sent (a re-run after a crash
  between OR24 and our commit, or a person confirming by hand);
- SHIPPING with our PIN and carrier already set (a crash between OR23 and OR24): OR24 only;
- SHIPPING otherwise: OR23 with carrier code ``CPCL`` (settings.carrier_code) and the PIN, then OR24;
- CANCELED: ``canceled`` with ``label_to_void``; ``shipping.void_canceled_labels`` voids the label.

OR24 answering ``ORDER_INVALID_STATE`` is settled by reading the order again (SHIPPED means our
earlier confirmation went through). Refusals give ``tracking_failed`` with Best Buy's codes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orderflow import lifecycle
from orderflow.operators.base import MiraklOrderStepOperator
from orderflow.operators.errors import error_detail, has_code

if TYPE_CHECKING:
    from airflow.sdk import Context

    from orderflow.hooks.mirakl import MiraklHook

SHIPPED_STATES = lifecycle.MIRAKL_SHIPPED


class PushTrackingOperator(MiraklOrderStepOperator):
    """Claim labelled (gate on: and packed) orders; OR23 + OR24; record ``shipped`` (see module doc)."""

    step = "tracking"
    failed_status = "tracking_failed"

    def run_step(self, context: Context) -> None:
        hook = self.mirakl_hook()
        flags = lifecycle.flags_of(self.settings)
        # label_created (and legacy `packed`) orders; with the pack gate on only once the parcel is
        # packed (packing is a fact about the parcel, never a status tracking would have to take).
        self.input_status = tuple(lifecycle.step_inputs(flags)["tracking"])
        for batch in self.claimed_batches(self.input_status,
                                          require_packed=lifecycle.tracking_needs_packed_parcel(flags)):
            self._track_batch(hook, batch)

    def _track_batch(self, hook: MiraklHook, batch: list[str]) -> None:
        from orderflow.label_store import label_matches

        remote = self.read_batch(hook, batch)
        if remote is None:
            return
        shipments = self.store.shipments_for_orders(batch)
        inp = self.input_status
        work: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
        for order_id, payload in self.returned(batch, remote):
            state = payload.get("order_state")
            stored = [s for s in shipments.get(order_id, []) if s["status"] in lifecycle.PRINTABLE]
            shipment = stored[-1] if stored else None
            if state in lifecycle.MIRAKL_ENDED:
                self.transition(order_id, lifecycle.S.CANCELED, expected_from=inp,
                                reason=f"{state.lower()} at Best Buy after the label",
                                mirakl_state=state, label_to_void=True,
                                customer_request_id=shipment and shipment["customer_request_id"])
                continue
            if shipment is None:
                self.fail(order_id, expected_from=inp, reason="no stored label for this order")
                continue
            ok, why = label_matches(shipment["label_path"], shipment["label_sha256"])
            if not ok:
                self.fail(order_id, expected_from=inp, reason=why, customer_request_id=shipment["customer_request_id"])
                continue
            if state in SHIPPED_STATES:
                self.transition(
                    order_id, "shipped", expected_from=inp, reason="already shipped at Best Buy: nothing re-sent",
                    mirakl_state=state, tracking_pin=shipment["tracking_pin"],
                    best_buy_tracking=payload.get("shipping_tracking"), or23="not sent", or24="not sent",
                )
                continue
            if state not in lifecycle.MIRAKL_SHIPPING:
                self.result.record_waiting(order_id, f"{state} at Best Buy")
                continue
            work.append((order_id, payload, shipment))

        def push(item: tuple[str, dict[str, Any], dict[str, Any]]) -> None:
            self._push(hook, *item)

        self.for_each(work, push, key=lambda item: item[0])

    def _push(self, hook: MiraklHook, order_id: str, payload: dict[str, Any], shipment: dict[str, Any]) -> None:
        carrier = self.settings.carrier_code
        pin = shipment["tracking_pin"]
        inp = self.input_status
        already = payload.get("shipping_tracking") == pin and payload.get("shipping_carrier_code") == carrier
        or23 = "already set" if already else "sent"
        try:
            if not already:
                self.result.count_call("OR23")
                hook.set_tracking(order_id, carrier, pin)
            self.result.count_call("OR24")
            hook.mark_shipped(order_id)
        except Exception as exc:
            kind = self.triage(exc, "Mirakl")
            if kind == "permanent" and has_code(exc, "ORDER_INVALID_STATE"):
                self._settle_invalid_state(hook, order_id, pin, or23, exc)
                return
            if kind == "permanent":
                self.fail(order_id, expected_from=inp, reason=f"{getattr(exc, 'operation', None) or 'Mirakl'} refused",
                          tracking_pin=pin, or23=or23, **error_detail(exc))
                return
            self.result.record_transient(order_id, str(exc))
            return
        self.transition(order_id, "shipped", expected_from=inp, reason="tracking sent and shipment confirmed",
                        tracking_pin=pin, carrier_code=carrier, or23=or23, or24="sent",
                        customer_request_id=shipment["customer_request_id"])

    def _settle_invalid_state(self, hook: MiraklHook, order_id: str, pin: str, or23: str, exc: BaseException) -> None:
        """OR23/OR24 said the order is not SHIPPING: read it again and record what it is."""
        inp = self.input_status
        try:
            state = (self.refresh_from_mirakl(hook, [order_id]).get(order_id) or {}).get("order_state")
        except Exception as read_exc:
            self.result.record_transient(order_id, f"OR11 after ORDER_INVALID_STATE: {read_exc}")
            return
        if state in SHIPPED_STATES:
            self.transition(order_id, "shipped", expected_from=inp,
                            reason="Best Buy shows it shipped (our earlier confirmation went through)",
                            tracking_pin=pin, or23=or23, or24="ORDER_INVALID_STATE", mirakl_state=state)
        elif state in lifecycle.MIRAKL_ENDED:
            self.transition(order_id, lifecycle.S.CANCELED, expected_from=inp,
                            reason="canceled at Best Buy after the label", mirakl_state=state, label_to_void=True)
        else:
            self.fail(order_id, expected_from=inp, reason="Best Buy refused tracking/shipment",
                      tracking_pin=pin, mirakl_state=state, **error_detail(exc))
