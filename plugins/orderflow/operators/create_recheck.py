"""Find or create one Canada Post shipment under the recheck window (issue 12 item 4).

The exactly-once protocol (design.md) says: after any doubt, read the other side before anything is
sent again. A look-up right after an ambiguous create (read timeout, dropped connection, 5xx,
malformed answer) proves nothing, though: Canada Post may still be processing the create, or its
search may lag behind. So:

- **The doubt is in the database.** ``shipments.create_doubt_at`` (DB clock) is written *before*
  every create POST (by the intent's insert, or an update before a later POST) and again *right
  after* an ambiguous answer. A worker killed anywhere in between leaves it behind.
- **No new POST inside the window** (:class:`CreateGate`). For an intent with a doubt, the age of the doubt is read from
  the database first, then Canada Post is looked up by the request id. Found: adopted (one label, as
  before). Nothing found: a new POST only when that look-up began at least
  ``create_recheck_seconds`` (setting ``CREATE_RECHECK_SECONDS``, default 120) after the doubt;
  otherwise the order **waits** (``record_waiting``, never ``label_failed``): the next try or the
  next run looks again.
- An ambiguous POST whose immediate look-up (inside the hook) found nothing raises
  :class:`~orderflow.hooks.canadapost_errors.CreateInDoubt`: the doubt is refreshed and the order
  waits. A POST Canada Post provably did not process (throttled, never connected) clears the doubt.

The caller holds the package's advisory lock (``OrderStore.shipment_lock``) around all of this, so
no two workers decide for one request id at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datetime import datetime

    from orderflow.hooks.canadapost import CanadaPostHook
    from orderflow.hooks.canadapost_model import ShipmentInfo, ShipmentRequest
    from orderflow.operators.step import StepLog
    from orderflow.store import OrderStore

ADOPTED_BY_LOOKUP = "adopted: found at Canada Post by customer_request_id"
ADOPTED_AFTER_LOST_ANSWER = "adopted: found at Canada Post after a lost create answer"


@dataclass(frozen=True)
class Obtained:
    """What :meth:`CreateGate.obtain` got: a shipment and how (``outcome``), or why the order waits."""

    info: ShipmentInfo | None
    outcome: str
    waiting: str | None = None


class CreateGate:
    """The per-package decision, for one call of the shipping step (see module doc)."""

    def __init__(
        self,
        cp: CanadaPostHook,
        store: OrderStore,
        *,
        recheck_seconds: float,
        count_call: Callable[[str], None],
        log: StepLog,
    ) -> None:
        self.cp = cp
        self.store = store
        self.recheck_seconds = max(0.0, float(recheck_seconds))
        self.count_call = count_call
        self.log = log
        #: True once a create POST was sent by this gate (an error after it may be the POST's)
        self.posted = False

    def obtain(
        self,
        request: ShipmentRequest,
        *,
        fresh_intent: bool,
        doubt_at: datetime | None = None,
        prepare: Callable[[ShipmentRequest], ShipmentRequest] | None = None,
    ) -> Obtained:
        """Find or create the shipment of ``request.customer_request_id``.

        ``fresh_intent``: the intent row was inserted by this call (its insert recorded the doubt,
        ``doubt_at``) and no look-up is due before the POST. ``prepare`` finishes the request right
        before a POST (never for a look-up that adopts).
        """
        crid = request.customer_request_id
        if not fresh_intent:
            # Age first, look-up second: the look-up then starts at least this long after the doubt.
            doubt = self.store.create_doubt(crid)
            found = self.cp.find_shipments(customer_request_id=crid)
            self.count_call("CP_find")
            if found:
                if len(found) > 1:
                    self.log.error("%s: %d shipments at Canada Post: %s", crid, len(found),
                                   [f.shipment_id for f in found])
                return Obtained(found[0], ADOPTED_BY_LOOKUP)
            if doubt.pending and doubt.age_seconds is not None and doubt.age_seconds < self.recheck_seconds:
                return Obtained(None, "waiting", waiting=self._waiting_reason(crid, doubt.age_seconds))
            # Proven absent by a look-up late enough: the doubt is settled; a new POST may follow.
            doubt_at = self.store.record_create_doubt(crid)  # before the POST, as for a fresh intent
        if prepare is not None:
            request = prepare(request)
        return self._post(request, doubt_at)

    def _post(self, request: ShipmentRequest, doubt_at: datetime | None) -> Obtained:
        from orderflow.hooks.canadapost import CreateInDoubt, ShipmentOutcomeUnknown, create_not_processed

        crid = request.customer_request_id
        self.posted = True
        try:
            info = self.cp.create_shipment(request, look_up_first=False)
        except CreateInDoubt:
            self.count_call("CP_create")
            self.store.record_create_doubt(crid)  # right after the ambiguous attempt
            self.log.warning("%s: create outcome unknown and not found yet: no new POST for %.0f s",
                             crid, self.recheck_seconds)
            return Obtained(None, "waiting", waiting=self._waiting_reason(crid, 0.0))
        except ShipmentOutcomeUnknown:
            self.count_call("CP_create")
            self.store.record_create_doubt(crid)  # the look-up failed: just as much in doubt
            raise
        except Exception as exc:
            if create_not_processed(exc):
                # Canada Post refused it unprocessed (throttled) or it never left: nothing pending.
                self.store.clear_create_doubt(crid, doubt_at)
            raise
        self.count_call("CP_create")
        if info.adopted:
            # The POST's answer was lost (timeout, dropped connection, 5xx after acting) and the hook's
            # look-up found the shipment that POST bought: say so in the history.
            return Obtained(info, ADOPTED_AFTER_LOST_ANSWER)
        return Obtained(info, "created")

    def _waiting_reason(self, crid: str, age: float) -> str:
        return (
            f"create of {crid} in doubt since {age:.0f} s (answer lost, not found by a look-up yet): no new "
            f"POST before a look-up {self.recheck_seconds:.0f} s after the doubt finds nothing; the next "
            "try or run looks again"
        )
