"""void_labels: get the money back for the Canada Post label of an order Best Buy canceled after we
bought it.

Ingest, shipping and tracking move such an order to ``canceled`` (final) and leave its shipment row
as it was. This step finds every row that may hold money (``orderflow.lifecycle.MAY_HOLD_MONEY``:
``intent``, ``created``, ``label_stored``; a store query joining the order's current status, never a
shipment of an order that has not ended) and, per package, under the package's advisory lock
(``OrderStore.shipment_lock``, the one buying labels takes too):

- an **intent** (a worker killed after Canada Post's answer, or before the POST) is looked up by its
  request id first: found -> adopted (``created``) and voided as below; nothing -> ``failed`` with
  "abandoned: nothing at Canada Post" in ``error`` (a look-up too soon after a create waits);

- **void** it at Canada Post: 204 -> ``voided`` with ``voided_at``;
- void answered **404** (``VoidNotFound``: unknown or voided before, e.g. our earlier void whose answer
  was lost, or a person in Canada Post's site): NOT proof by itself, so the shipment is looked up;
  Canada Post no longer holding an active one -> ``voided`` (the detail says how it was found);
  still active -> a permanent failure for a person;
- void refused because only a **refund** is possible (``RefundRequired``: 8064 after transmit, or a
  non-contract shipment) -> request the refund -> ``refund_requested`` with the service ticket id in
  ``refund_ticket_id``; a refund requested before (409/7292) -> ``refund_requested`` too (no ticket).

The order's history is never written (``canceled`` is final); the audit (run, try, how, Canada Post's
answer) goes into the shipment row's ``void_detail`` and the task log. A settled row is never
selected again, so a re-run makes no Canada Post call for it.

Errors follow the order steps: a transient one (5xx, timeouts, throttling, a lost void answer) leaves
the row live and the task retries; a permanent one (Canada Post refuses, no ``refund_email`` for a
refund) keeps the reason in the row's ``error`` with this run's id, the other shipments go on, and
the task fails listing them. Scheduled runs leave such a row to a person; clearing the failed task
re-attempts it (the same run id). Refused credentials stop the step at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orderflow import lifecycle
from orderflow.operators.base import OrderStepOperator
from orderflow.operators.errors import PermanentItemError, error_detail

if TYPE_CHECKING:
    from airflow.sdk import Context

SH = lifecycle.ShipmentStatus


class VoidCanceledLabelsOperator(OrderStepOperator):
    """Void (or have refunded) the live Canada Post labels of ``canceled`` orders (see module doc)."""

    step = "void_labels"
    failed_status = None  # an order's status is never written here; shipments carry the outcome
    ui_color = "#fdf0e0"

    def __init__(self, *, canadapost_conn_id: str = "canadapost_default", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.canadapost_conn_id = canadapost_conn_id

    def run_step(self, context: Context) -> None:
        from orderflow.hooks.canadapost import CanadaPostHook
        from orderflow.operators.carrier_cache import StoreSeenShipments

        # Non-contract look-ups keep what they read in our database and never read it again.
        self.canadapost = CanadaPostHook(self.canadapost_conn_id, nc_seen=StoreSeenShipments(self.store))
        connected = False
        after_id = 0
        limit = max(1, min(self.settings.batch_size, 100))
        while True:
            rows = self.store.void_candidates(run_id=self.run_id, after_id=after_id, limit=limit,
                                              shard=self.shard, shards=self.shards)
            if not rows:
                return
            if not connected:
                # Only when there is work: a run without cancellations reads no connection, calls nothing.
                self.connect("Canada Post", self.canadapost.get_conn)  # once, before threads share the hook
                connected = True
            self.log.info("%d live shipment(s) of canceled orders to void or refund", len(rows))
            after_id = rows[-1]["id"]
            self.for_each(rows, self._settle, key=lambda row: row["customer_request_id"])

    # -------------------------------------------------------------------------------------------
    def _settle(self, row: dict[str, Any]) -> None:
        crid = row["customer_request_id"]
        with self.store.shipment_lock(crid) as locked:
            if not locked:
                self.result.record_waiting(crid, "another worker holds this package's lock")
                return
            # Re-read under the lock: whoever held it may have settled the shipment meanwhile.
            current = self.store.void_target(row["id"])
            if current is None or current["status"] not in lifecycle.MAY_HOLD_MONEY:
                self.result.record_waiting(crid, f"settled meanwhile ({current['status'] if current else 'gone'})")
                return
            if current["order_status"] not in lifecycle.ENDED:
                # Unreachable through the query ('canceled' is final); the money rule is checked anyway.
                self.result.record_waiting(crid, f"order {current['order_id']} is {current['order_status']}")
                return
            live: dict[str, Any] = current  # the row as last read: the intent, or what it resolved to
            try:
                if live["status"] == SH.INTENT:
                    resolved = self._resolve_intent(live)
                    if resolved is None:
                        return
                    live = resolved
                self._void_or_refund(live)
            except PermanentItemError as exc:
                self._fail(live, exc.reason, exc.detail)
            except Exception as exc:
                if self.triage(exc, "Canada Post") == "permanent":
                    self._fail(live, "Canada Post refused the void or refund", error_detail(exc))
                    return
                self.log.warning("%s: transient error, shipment left live: %s", crid, exc)
                self.result.record_transient(crid, f"{type(exc).__name__}: {exc}")

    def _resolve_intent(self, row: dict[str, Any]) -> dict[str, Any] | None:
        """An ``intent`` (a worker died between Canada Post's answer and our commit, or before the
        POST): look its request id up. Found: adopt it (``created``) and void it like any other.
        Nothing: mark it ``failed`` (abandoned), so the row no longer stands for money. A look-up
        proves nothing too soon after a create (Canada Post may still be processing it, or its search
        may lag): a look-up finding nothing settles the row only when made ``create_recheck_seconds``
        after the intent's last create that may have been processed (``create_doubt_at``, DB clock,
        read before the look-up); until then the row waits. A shipment found is adopted at once."""
        crid = row["customer_request_id"]
        recheck = float(self.settings.create_recheck_seconds)
        doubt = self.store.create_doubt(crid)
        found = self.canadapost.find_shipments(customer_request_id=crid)
        self.result.count_call("CP_find")
        if not found and doubt.pending and (doubt.age_seconds or 0.0) < recheck:
            self.result.record_waiting(
                crid, f"create in doubt since {doubt.age_seconds:.0f} s: nothing found yet; settled by a "
                      f"look-up {recheck:.0f} s after it")
            return None
        if not found:
            reason = ("abandoned: nothing at Canada Post for this request id (the order is canceled; no "
                      "label was bought)")
            if self.store.mark_shipment_failed(crid, error=self._detail(row, reason=reason, how=reason)) is None:
                self.result.record_waiting(crid, "shipment row changed meanwhile")
                return None
            self.result.record_done(crid, "abandoned")
            self.log.info("%s: intent of canceled order %s: nothing at Canada Post, marked failed",
                          crid, row["order_id"])
            return None
        if len(found) > 1:
            self.log.error("%s: %d shipments at Canada Post: %s", crid, len(found), [f.shipment_id for f in found])
        info = found[0]
        # A shipment found for an intent is adopted (to be voided) as Canada Post has it, PIN or not.
        self.store.mark_shipment_created(
            crid, shipment_id=info.shipment_id, tracking_pin=info.tracking_pin,
            links=info.links,
            price=info.price, group_id=info.group_id,
        )
        self.log.info("%s: intent adopted (shipment %s found at Canada Post); voiding it", crid, info.shipment_id)
        return self.store.void_target(row["id"])

    def _target(self, row: dict[str, Any]) -> str:
        """The shipment's ``self`` link when it was bought over the transport in use, else its id."""
        link: str | None = (row.get("links") or {}).get("self")
        if link and "://" in link and row.get("transport") == self.canadapost.config.api:
            return link
        shipment_id: str = row["shipment_id"]
        return shipment_id

    def _void_or_refund(self, row: dict[str, Any]) -> None:
        from orderflow.hooks.canadapost import RefundRequired, VoidNotFound

        crid = row["customer_request_id"]
        target = self._target(row)
        # Voids follow the manifest (end of day): a label Canada Post manifested is only refunded; while
        # its group's transmit is in doubt, neither is sent (the close of day settles it first).
        group = self.store.group_of_shipment(row["id"])
        if group is not None and group["status"] in lifecycle.GROUP_IN_DOUBT:
            self.result.record_waiting(crid, f"group {group['group_id']} is being transmitted: settled after it")
            return
        if row.get("manifest_row_id") is not None:
            self._request_refund(row, target, RefundRequired(
                f"in a manifest (group {group['group_id'] if group else row.get('group_id')} transmitted): "
                "Canada Post only refunds it", request_id=row["shipment_id"]))
            return
        try:
            self.canadapost.void_shipment(target)
        except VoidNotFound as exc:
            self.result.count_call("CP_void")
            self._settle_not_found(row, target, exc)
            return
        except RefundRequired as exc:
            if exc.status is not None:  # a non-contract shipment is refused before any call
                self.result.count_call("CP_void")
            self._request_refund(row, target, exc)
            return
        self.result.count_call("CP_void")
        self._record_voided(row, how="voided: Canada Post answered 204")
        self.log.info("%s: shipment %s voided", crid, row["shipment_id"])

    def _settle_not_found(self, row: dict[str, Any], target: str, void_error: Exception) -> None:
        """The void answered 404: gone already, or a void that reached the wrong place? Ask."""
        from orderflow.hooks.canadapost import CanadaPostNotFoundError
        from orderflow.hooks.canadapost_wire import VOIDED_STATUSES

        try:
            info = self.canadapost.get_shipment(target)
            self.result.count_call("CP_get")
        except CanadaPostNotFoundError:
            self.result.count_call("CP_get")
            self._record_voided(
                row, how="already voided: the void and the look-up both answered 404 (an earlier void, e.g. "
                         "one whose answer was lost, or one made at Canada Post by hand)",
            )
            self.log.info("%s: shipment %s was already voided", row["customer_request_id"], row["shipment_id"])
            return
        if (info.status or "").strip().lower() in VOIDED_STATUSES:
            self._record_voided(row, how=f"already voided: the look-up shows status {info.status}")
            return
        raise PermanentItemError(
            "the void answered 404 but Canada Post still shows the shipment active",
            shipment_status=info.status, **error_detail(void_error),
        )

    def _request_refund(self, row: dict[str, Any], target: str, void_error: Exception) -> None:
        crid = row["customer_request_id"]
        if not self.canadapost.config.refund_email:
            raise PermanentItemError(
                "Canada Post only refunds this label and the canadapost connection has no refund_email "
                "extra (where refund tickets go): set it, then clear this task",
                **error_detail(void_error),
            )
        info = self.canadapost.request_refund(target)
        self.result.count_call("CP_refund")
        ticket = info.service_ticket_id or None
        detail = self._detail(
            row,
            how="refund requested: Canada Post cannot void it" if not info.already_requested
            else "refund requested before (Canada Post answered 7292); no new ticket",
            void_answer=error_detail(void_error),
            service_ticket_id=ticket,
            service_ticket_date=info.service_ticket_date,
            already_requested=info.already_requested,
        )
        if self.store.mark_shipment_refund_requested(row["id"], refund_ticket_id=ticket, detail=detail) is None:
            self.result.record_waiting(crid, "shipment row changed meanwhile; refund recorded only in this log")
            self.log.error("%s: refund %s requested but the row was not live any more", crid, ticket)
            return
        self.result.record_done(crid, "refund_requested")
        self.log.info("%s: shipment %s refund requested (ticket %s)", crid, row["shipment_id"], ticket)

    # -------------------------------------------------------------------------------------------
    def _detail(self, row: dict[str, Any], **values: Any) -> dict[str, Any]:
        return self.detail(
            actor=self.actor, order_id=row["order_id"], order_status=row["order_status"],
            shipment_id=row["shipment_id"], tracking_pin=row["tracking_pin"], transport=self.canadapost.config.api,
            **values,
        )

    def _record_voided(self, row: dict[str, Any], *, how: str) -> None:
        crid = row["customer_request_id"]
        if self.store.mark_shipment_voided(row["id"], detail=self._detail(row, how=how)) is None:
            self.result.record_waiting(crid, "shipment row changed meanwhile; void recorded only in this log")
            self.log.error("%s: voided at Canada Post but the row was not live any more", crid)
            return
        self.result.record_done(crid, "voided")

    def _fail(self, row: dict[str, Any], reason: str, detail: dict[str, Any]) -> None:
        crid = row["customer_request_id"]
        error = self._detail(row, reason=reason, **detail)
        self.store.mark_shipment_void_failed(row["id"], error=error)
        self.result.record_failed(crid, {"status": row["status"], "order_id": row["order_id"], "reason": reason,
                                         "codes": detail.get("codes")})

    # -------------------------------------------------------------------------------------------
    failed_log_prefix = "NOT VOIDED"
    transient_log_template = None

    def failure_line(self, key: str, detail: dict[str, Any]) -> str:
        return f"  {key} (order {detail['order_id']}): {detail['reason']} {detail.get('codes') or ''}".rstrip()

    def failed_message(self, count: int) -> str:
        return (
            f"{self.step}: {count} label(s) of canceled orders could be neither voided nor refunded "
            "(still paid for; clear this task to re-attempt them):\n"
        )

    def transient_message(self, count: int) -> str:
        return f"{self.step}: {count} shipment(s) hit transient errors and stay live; retrying: "


__all__ = ["VoidCanceledLabelsOperator"]
