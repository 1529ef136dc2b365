"""ingest: bring new and updated Best Buy orders into the order store.

One OR11 sweep by update date per run, from a stored watermark minus an overlap (Mirakl's own
safety delta plus clock skew: re-reading a few minutes twice is free, missing an update is not),
then in batches:

- UPSERT orders and lines (state, address, totals: the store never forgets an address once given);
- an order without history gets its first status from ``lifecycle.first_status``, the reason in
  the history: WAITING_ACCEPTANCE -> ``pending_acceptance``, CANCELED -> ``canceled``, REFUSED ->
  ``refused``; accepted outside orderflow (by hand in Best Buy's portal: WAITING_DEBIT*, SHIPPING,
  SHIPPED or later) -> ``accepted``, and the shipping step decides by Best Buy's state (shipped
  already: ``label_failed`` for a person, never a label); a state Best Buy does not document ->
  ``pending_acceptance``, which the acceptance step gives to a person without sending OR21. No
  order is ever stored without a status;
- an order Best Buy canceled or refused moves to ``canceled``/``refused`` when the status machine
  allows it, unless a step of another run holds its claim right now (that step reads the order from
  Best Buy itself and records the cancellation; two writers would only race).

The watermark moves to the newest ``last_updated_date`` seen (Best Buy's clock, not ours), never
past an order that could not be stored: a malformed order is reported (task failed, ids in the log)
and re-read next run instead of being skipped forever.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowFailException

from orderflow import lifecycle
from orderflow.batching import chunked
from orderflow.operators.base import MiraklOrderStepOperator
from orderflow.operators.errors import OrderflowTransientError
from orderflow.timestamps import parse_timestamp

if TYPE_CHECKING:
    from airflow.sdk import Context

    from orderflow.hooks.mirakl_records import OrderRecord

WATERMARK = "mirakl_orders_or11"
# Keyed by Best Buy's state as OR11 spells it (a MiraklState is that string).
ENDED_AT_BEST_BUY: dict[str, lifecycle.OrderStatus] = {s.value: status for s, status in lifecycle.MIRAKL_ENDED.items()}


class IngestOrdersOperator(MiraklOrderStepOperator):
    """OR11 by update date since the watermark (minus overlap); upsert; first statuses; cancellations."""

    step = "ingest"
    failed_status = None

    def run_step(self, context: Context) -> None:
        from orderflow import lifecycle as status_machine
        from orderflow.hooks.mirakl_records import order_from_payload

        hook = self.mirakl_hook()
        watermark = self.store.get_watermark(WATERMARK)
        if watermark is not None:
            since = watermark - timedelta(minutes=self.settings.ingest_overlap_minutes)
        else:
            since = datetime.now(UTC) - timedelta(days=self.settings.ingest_initial_lookback_days)
        self.log.info("OR11 sweep: orders updated since %s (watermark %s)", since.isoformat(), watermark)
        try:
            payloads = hook.list_orders(updated_since=since)
        except Exception as exc:
            if self.triage(exc, "Mirakl") == "permanent":
                raise AirflowFailException(f"ingest: OR11 refused the sweep: {exc}") from exc
            raise OrderflowTransientError(f"ingest: OR11 sweep failed, nothing ingested: {exc}") from exc
        self.result.count_call("OR11_sweep")

        good: list[dict[str, Any]] = []
        records: list[OrderRecord] = []
        malformed: dict[str, dict[str, Any]] = {}
        for payload in payloads:
            try:
                record = order_from_payload(payload)
            except (ValueError, TypeError, KeyError) as exc:
                oid = str(payload.get("order_id") or f"<no id #{len(malformed) + 1}>")
                malformed[oid] = {"reason": str(exc), "last_updated_date": payload.get("last_updated_date")}
                continue
            good.append(payload)
            records.append(record)

        upserted = []
        for batch in chunked(records, max(1, self.settings.batch_size)):
            upserted.extend(self.store.upsert_orders(batch))
        by_id = {p["order_id"]: p for p in good}
        claimed = self.store.claimed_by_others([u.order_id for u in upserted], owner=self.claim_owner)
        # Orders Best Buy ended that we already hold: their shipment rows tell whether a label may
        # have been bought (an ``accepted`` order can hold an ``intent`` a lost answer left, or a
        # ``created`` shipment whose label was not stored yet): a person must check and void it.
        ending = [u.order_id for u in upserted if u.current_status and ENDED_AT_BEST_BUY.get(u.mirakl_state or "")]
        shipments = self.store.shipments_for_orders(ending) if ending else {}
        outside = 0
        for u in upserted:
            if u.current_status is None:
                first, reason = lifecycle.first_status(u.mirakl_state)
                if first == lifecycle.S.ACCEPTED or not lifecycle.is_documented(u.mirakl_state):
                    outside += 1
                self.transition(
                    # (None,): only an order with no status yet.
                    u.order_id, first, expected_from=(None,),
                    reason=reason, mirakl_state=u.mirakl_state,
                )
                continue
            target = ENDED_AT_BEST_BUY.get(u.mirakl_state or "")
            if target is None or u.current_status == target:
                continue
            if not status_machine.is_allowed(u.current_status, target):
                continue
            if u.order_id in claimed:
                self.result.record_waiting(u.order_id, f"{u.mirakl_state} at Best Buy; {claimed[u.order_id]['step']} "
                                                       "holds it and records it")
                continue
            held = [
                {"customer_request_id": r["customer_request_id"], "status": r["status"]}
                for r in shipments.get(u.order_id, [])
                if r["status"] in lifecycle.MAY_HOLD_MONEY
            ]
            self.transition(
                u.order_id, target, expected_from=u.current_status,
                reason=f"{(u.mirakl_state or '').lower()} at Best Buy",  # a target above: the state is set
                mirakl_state=u.mirakl_state,
                mirakl_reason=by_id[u.order_id].get("order_state_reason_code"),
                label_to_void=bool(held) or u.current_status in lifecycle.TRACKING_INPUT,
                shipments=held,
            )

        newest = max((parse_timestamp(p.get("last_updated_date")) for p in good), default=None, key=_ts_key)
        if malformed:
            oldest_bad = min(
                (parse_timestamp(m["last_updated_date"]) for m in malformed.values()), default=None, key=_ts_key
            )
            # Never move past an order we could not store: the next sweep must see it again.
            newest = None if oldest_bad is None else min(filter(None, [newest, oldest_bad]), default=None)
        if newest is not None:
            self.store.set_watermark(WATERMARK, newest)
        self.log.info(
            "ingested %d order(s) (%d new statuses, %d first seen accepted outside orderflow or in an "
            "undocumented state), watermark -> %s",
            len(upserted), len(self.result.done), outside, newest,
        )
        if malformed:
            lines = [f"  {oid}: {m['reason']}" for oid, m in sorted(malformed.items())]
            raise AirflowFailException(
                f"ingest: {len(malformed)} malformed order(s) from OR11 were not stored (they are re-read "
                "every run until fixed):\n" + "\n".join(lines)
            )


def _ts_key(value: datetime | None) -> datetime:
    return value or datetime.min.replace(tzinfo=UTC)


__all__ = ["WATERMARK", "IngestOrdersOperator"]
