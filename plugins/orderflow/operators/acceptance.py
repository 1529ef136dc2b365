"""acceptance: accept every line of each ``pending_acceptance`` order, then confirm Best Buy took it.

Per claimed batch (<= 100 orders):

1. **Read first** (OR11 by order_ids, one call): an order Best Buy already shows past
   WAITING_ACCEPTANCE was accepted before (a re-run after a crash between OR21 and our commit, or a
   person in the back office): it is recorded ``accepted`` without a second OR21. Canceled/refused
   meanwhile: ``canceled``/``refused``.
2. **OR21** accepting every line (line ids from Best Buy's copy), ``max_workers`` at a time. An
   ``ORDER_INVALID_STATE`` answer means the order left WAITING_ACCEPTANCE (often: our own earlier
   accept went through) and is settled by the poll, not failed.
3. **Poll** OR11 with the batch's order ids until each order has left WAITING_ACCEPTANCE, at most
   ``acceptance_poll_attempts`` times, ``acceptance_poll_interval_seconds`` apart: WAITING_DEBIT*,
   SHIPPING (or later) -> ``accepted``; CANCELED/REFUSED -> ``canceled``/``refused``; still waiting
   after the last poll -> ``acceptance_failed`` (a person looks; clearing the task re-attempts it).

An order in a state Best Buy's API does not document (``lifecycle.is_documented``; ingest gives
such an order ``pending_acceptance`` when it first sees it) gets no OR21: ``acceptance_failed``
at once, for a person.

Transient errors leave the order ``pending_acceptance`` (the next try starts with step 1, so an
accept that did go through is recognised, never re-sent blindly).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from orderflow import lifecycle
from orderflow.operators.base import MiraklOrderStepOperator
from orderflow.operators.errors import error_detail, has_code

if TYPE_CHECKING:
    from airflow.sdk import Context

    from orderflow.hooks.mirakl import MiraklHook

ACCEPTED_STATES = lifecycle.MIRAKL_ACCEPTED
# Keyed by Best Buy's state as OR11 spells it (a MiraklState is that string).
ENDED_STATES: dict[str, lifecycle.OrderStatus] = {s.value: status for s, status in lifecycle.MIRAKL_ENDED.items()}
(INPUT,) = lifecycle.ACCEPTANCE_INPUT


class AcceptOrdersOperator(MiraklOrderStepOperator):
    """Claim ``pending_acceptance`` orders; OR21 every line; poll OR11 until accepted (see module doc)."""

    step = "acceptance"
    failed_status = "acceptance_failed"

    def run_step(self, context: Context) -> None:
        hook = self.mirakl_hook()
        for batch in self.claimed_batches(INPUT):
            self._accept_batch(hook, batch)

    # -------------------------------------------------------------------------------------------
    def _settle(self, order_id: str, state: str | None, **detail: Any) -> bool:
        """Record what Best Buy's state says; False when the order is still waiting for acceptance."""
        if state in ACCEPTED_STATES:
            self.transition(order_id, "accepted", expected_from=INPUT, reason="accepted at Best Buy",
                            mirakl_state=state, **detail)
            return True
        if state in ENDED_STATES:
            self.transition(order_id, ENDED_STATES[state], expected_from=INPUT,
                            reason=f"{state.lower()} at Best Buy", mirakl_state=state, **detail)
            return True
        return False

    def _accept_batch(self, hook: MiraklHook, batch: list[str]) -> None:
        remote = self.read_batch(hook, batch)
        if remote is None:
            return
        to_accept: list[str] = []
        for order_id in batch:
            payload = remote.get(order_id)
            if payload is None:
                self.fail(order_id, expected_from=INPUT, reason="order not found at Best Buy (OR11 by order_ids)")
                continue
            state = payload.get("order_state")
            if self._settle(order_id, state, or21="not sent: already past WAITING_ACCEPTANCE"):
                continue
            if state == lifecycle.M.WAITING_ACCEPTANCE:
                to_accept.append(order_id)
            elif lifecycle.is_documented(state):  # STAGING: Best Buy is not done with it yet
                self.result.record_waiting(order_id, f"{state} at Best Buy")
            else:  # no OR21 for a state we do not know: a person checks it in Best Buy's portal
                self.fail(order_id, expected_from=INPUT, mirakl_state=state,
                          reason=f"{state} at Best Buy is not a state Best Buy's API documents: check the order "
                                 "in Best Buy's portal, then clear this task (it reads the order again)")

        sent: dict[str, str] = {}

        def accept(order_id: str) -> None:
            lines = [line["order_line_id"] for line in remote[order_id].get("order_lines") or []]
            try:
                hook.accept_order(order_id, lines, accepted=True)
                self.result.count_call("OR21")
                sent[order_id] = "sent"
            except Exception as exc:
                self.result.count_call("OR21")
                kind = self.triage(exc, "Mirakl")
                if kind == "permanent" and has_code(exc, "ORDER_INVALID_STATE"):
                    # Left WAITING_ACCEPTANCE between our read and OR21 (or our earlier accept went
                    # through): the poll tells which.
                    sent[order_id] = "ORDER_INVALID_STATE"
                elif kind == "permanent":
                    self.fail(order_id, expected_from=INPUT, reason="OR21 refused", **error_detail(exc))
                else:
                    self.result.record_transient(order_id, f"OR21: {exc}")

        self.for_each(to_accept, accept, key=lambda oid: oid)
        self._poll(hook, sent)

    def _poll(self, hook: MiraklHook, sent: dict[str, str]) -> None:
        pending = dict(sent)
        attempts = max(1, self.settings.acceptance_poll_attempts)
        last_state: dict[str, str | None] = {}
        for attempt in range(1, attempts + 1):
            if not pending:
                return
            if attempt > 1:
                time.sleep(max(0.0, self.settings.acceptance_poll_interval_seconds))
            remote = self.read_batch(hook, list(pending))
            if remote is None:
                if attempt < attempts:
                    for oid in pending:  # a failed look-up is not the verdict yet
                        self.result.transient.pop(oid, None)
                continue
            for order_id in list(pending):
                state = (remote.get(order_id) or {}).get("order_state")
                last_state[order_id] = state
                if self._settle(order_id, state, or21=pending[order_id], polls=attempt):
                    pending.pop(order_id)
        for order_id in pending:
            if order_id in self.result.transient:
                continue  # the last look-up failed: the next try reads first, then decides
            self.fail(
                order_id,
                expected_from=INPUT,
                reason=f"still {last_state.get(order_id) or 'not found'} at Best Buy after {attempts} poll(s)",
                or21=pending[order_id],
                polls=attempts,
            )
