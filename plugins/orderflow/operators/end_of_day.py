"""end_of_day: transmit the day's Canada Post groups exactly once, then fetch, check and store the
manifests (issue 14). The DAG ``orderflow_end_of_day`` runs it at the cut-off; the "Close the day"
page runs the same :class:`DayCloser` for a supervisor.

Per group of the closed mailing days (``orderflow.mailing_day``; ``shipping_groups``):

1. ``open`` -> ``closed``: no label joins any more (a label bought now joins the day's next group,
   see ``OrderStore.assign_shipping_group``); the close waits until no create of the group is in
   flight (its intents' advisory locks are free), at most ``eod_in_flight_wait_seconds``.
2. Nothing live in it (every label voided): ``empty``, nothing is sent.
3. ``transmitting`` is committed (the intent), then Transmit Shipments for this one group, with the
   group id as ``customer-reference``.
4. Answered: each manifest is read (Get Manifest, details, shipments) and recorded with the shipments
   it holds; the group is ``transmitted``.
5. **Any doubt** (timeout, dropped answer, 5xx, a crash after step 3, a re-run finding
   ``transmitting``): the manifests of the dates since the intent are read back (Get Manifests by
   date) and each one is matched to our groups by its ``customer-ref`` and by the shipments it holds.
   Found: ``transmitted`` (read back). Not found: the group waits until a read-back made at least
   ``eod_transmit_recheck_seconds`` after the attempt still finds nothing; only then is it transmitted
   again. A group is never transmitted twice.
6. Each manifest's PDF (its ``artifact`` link) is downloaded, validated (``orderflow.manifest_check``:
   names the manifest, the shipment count) and stored beside the labels
   (``<label_dir>/manifests/manifest-<id>.pdf``) with its sha256.

Errors: Canada Post refusing a transmit (4xx) puts the group back to ``closed`` with the reason and
fails the task (a person looks; clearing it re-attempts). A manifest PDF invalid twice is ``invalid``
and fails the task. Transient errors leave everything where it is and the task retries.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from orderflow import lifecycle
from orderflow.operators.base import OrderStepOperator
from orderflow.operators.errors import PermanentItemError, classify, error_detail
from orderflow.operators.step import StepLog, StepResult

if TYPE_CHECKING:
    from airflow.sdk import Context

    from orderflow.hooks.canadapost import CanadaPostHook
    from orderflow.hooks.canadapost_model import ShipmentRequest
    from orderflow.settings import Settings
    from orderflow.store import OrderStore

GS = lifecycle.GroupStatus
SH = lifecycle.ShipmentStatus
MT_PDF = "application/pdf"
# Get Manifests by date over at most this many days back from today (a doubt older than that is a
# person's job: the group stays `transmitting` and the page and Grafana show it).
READ_BACK_MAX_DAYS = 7


def daily_group_request(
    store: OrderStore, settings: Settings, cp: CanadaPostHook, request: ShipmentRequest, crid: str
) -> ShipmentRequest:
    """The shipping step's request, in the group of its mailing day when the connection uses daily
    groups (contract shipping, ``group_id`` "daily"); called right before each create POST, under the
    package's advisory lock, so a label bought while its day's group is being transmitted joins the
    next group."""
    from dataclasses import replace

    from orderflow.mailing_day import CutOff, cutoff_at, mailing_date

    config = cp.config
    if not config.shipper.contract or config.group_strategy != "daily" or request.group_id:
        return request
    cut = CutOff.from_settings(settings)
    day = mailing_date(datetime.now(UTC), cut)
    return replace(request, group_id=store.assign_shipping_group(crid, day, cutoff_at(day, cut)))


class DayCloser:
    """The close of day for one actor (a DAG run or a supervisor): see the module docstring."""

    def __init__(
        self,
        store: OrderStore,
        hook: CanadaPostHook,
        settings: Settings,
        *,
        actor: str,
        result: StepResult,
        log: StepLog,
        lock_package: Callable[[str], AbstractContextManager[bool]] | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.store = store
        self.hook = hook
        self.settings = settings
        self.actor = actor
        self.result = result
        self.log = log
        self.lock_package = lock_package or store.shipment_lock
        self.now = now
        self.sleep = sleep

    # -------------------------------------------------------------------------------------------
    def close(self, through: date) -> None:
        """Transmit every unsettled group of mailing days up to ``through``, then store manifests."""
        closed = self.store.close_groups(through, closed_by=self.actor)
        if closed:
            self.log.info("closed %d group(s): %s", len(closed), ", ".join(g["group_id"] for g in closed))
        for group in self.store.unsettled_groups(through):
            gid = group["group_id"]
            try:
                self._settle_group(group)
            except PermanentItemError as exc:
                self.store.mark_group(gid, GS.CLOSED, from_statuses=[GS.TRANSMITTING],
                                      doubt=None, detail={"refused": exc.detail, "by": self.actor})
                self.result.record_failed(gid, {"reason": exc.reason, "codes": exc.detail.get("codes")})
            except Exception as exc:
                if classify(exc) == "config":
                    raise
                self.log.warning("%s: transient error, group left %s: %s", gid, group["status"], exc)
                self.result.record_transient(gid, f"{type(exc).__name__}: {exc}")
        self.store_manifests()

    # -------------------------------------------------------------------------------------------
    def _settle_group(self, group: dict[str, Any]) -> None:
        gid = group["group_id"]
        if group["status"] == GS.TRANSMITTING:
            # An earlier attempt's outcome is unknown (or a crash right after the intent): read back.
            if self._read_back(group):
                return
            waited = (self.now() - (group["last_attempt_at"] or group["updated_at"])).total_seconds()
            recheck = float(self.settings.eod_transmit_recheck_seconds)
            if waited < recheck:
                # Transient, not waiting: the task retries (within minutes), not tomorrow's cut-off run.
                self.result.record_transient(
                    gid, f"transmit outcome unknown; no manifest yet {waited:.0f} s after the attempt: read "
                         f"back again before any new transmit (after {recheck:.0f} s)")
                return
            self.log.warning("%s: no manifest %.0f s after the doubtful transmit: transmitting it", gid, waited)
        else:
            if not self._wait_for_creates(gid):
                return
            live = self.store.group_contents(gid, lifecycle.values(lifecycle.MAY_HOLD_MONEY))
            if not live:
                self.store.mark_group(gid, GS.EMPTY, from_statuses=[GS.CLOSED],
                                      detail={"how": "nothing live in the group: not transmitted", "by": self.actor})
                self.result.record_done(gid, GS.EMPTY)
                return
        self._transmit(gid)

    def _wait_for_creates(self, gid: str) -> bool:
        """True once no create of the group is in flight (every intent's package lock is free)."""
        deadline = self.now() + timedelta(seconds=float(self.settings.eod_in_flight_wait_seconds))
        while True:
            busy = []
            for row in self.store.group_contents(gid, [SH.INTENT]):
                with self.lock_package(row["customer_request_id"]) as locked:
                    if not locked:
                        busy.append(row["customer_request_id"])
            if not busy:
                return True
            if self.now() >= deadline:
                self.result.record_transient(gid, f"creates still in flight: {', '.join(busy)}")
                return False
            self.sleep(1.0)

    def _transmit(self, gid: str) -> None:
        from orderflow.hooks.canadapost_manifest import customer_reference_for

        intent = self.store.mark_group_transmitting(gid)
        if intent is None:
            self.result.record_waiting(gid, "group changed meanwhile")
            return
        self.log.info("%s: transmitting (attempt %d)", gid, intent["transmit_attempts"])
        try:
            answer = self.hook.transmit([gid], customer_reference=customer_reference_for([gid]))
            self.result.count_call("CP_transmit")
        except Exception as exc:
            self.result.count_call("CP_transmit")
            kind = classify(exc)
            if kind == "config":
                raise
            if kind == "permanent" and getattr(exc, "status", None) in (400, 404, 409, 422):
                raise PermanentItemError("Canada Post refused the transmit", **error_detail(exc)) from exc
            # Timeout, dropped answer, 5xx, a malformed body: it may have been transmitted.
            self.store.mark_group(gid, GS.TRANSMITTING, from_statuses=[GS.TRANSMITTING],
                                  doubt={"at": self.now().isoformat(), **error_detail(exc)})
            self.log.warning("%s: transmit outcome unknown (%s); reading the manifests back", gid, exc)
            if self._read_back(intent):
                return
            self.result.record_transient(gid, f"transmit outcome unknown and no manifest found yet: {exc}")
            return
        if not answer.manifest_links:
            self.store.mark_group(gid, GS.EMPTY, from_statuses=[GS.TRANSMITTING],
                                  detail={"how": "transmitted: Canada Post made no manifest (nothing in it)"})
            self.result.record_done(gid, GS.EMPTY)
            return
        for link in answer.manifest_links:
            self._record_manifest(link, gid, found_by="transmit answer")
        self._transmitted(gid, how="transmit answered", manifests=len(answer.manifest_links))

    def _transmitted(self, gid: str, **detail: Any) -> None:
        self.store.mark_group(gid, GS.TRANSMITTED, from_statuses=[GS.TRANSMITTING, GS.CLOSED],
                              doubt=None, detail={**detail, "by": self.actor})
        self.result.record_done(gid, GS.TRANSMITTED)
        self.log.info("%s: transmitted (%s)", gid, detail.get("how"))

    # -------------------------------------------------------------------------------------------
    def _read_back(self, group: dict[str, Any]) -> bool:
        """Get Manifests by date since the intent; record every manifest not known yet. True when one
        holds this group (the group is then ``transmitted``)."""
        from orderflow.hooks import canadapost_manifest as cpm
        from orderflow.hooks.canadapost_xml import EASTERN

        gid = group["group_id"]
        today = self.now().astimezone(EASTERN).date()
        since = group.get("transmit_requested_at") or self.now()
        start = max(since.astimezone(EASTERN).date(), today - timedelta(days=READ_BACK_MAX_DAYS))
        doc = self.hook.read_manifest_document(None, "manifests", cpm.manifests_by_date_params(start, today))
        self.result.count_call("CP_get_manifests")
        links = cpm.parse_manifest_links(doc).manifest_links
        known = self.store.known_manifests([cpm.last_segment(link) for link in links])
        found = any(g == gid for g in known.values())
        for link in links:
            if cpm.last_segment(link) in known:
                continue
            if self._record_manifest(link, None, found_by="read back by date") == gid:
                found = True
        if found:
            self._transmitted(gid, how="read back: Canada Post holds its manifest (Get Manifests by date)")
        return found

    def _record_manifest(self, link: str, gid: str | None, *, found_by: str) -> str | None:
        """Read one manifest (details, shipments) and record it. Returns the group it belongs to: the
        one transmitted (``gid``), else the group named by its customer-ref or by its shipments."""
        from orderflow.hooks import canadapost_manifest as cpm

        info = cpm.parse_manifest(self._read_manifest(link, "manifest"))
        details = cpm.parse_manifest_details(self._read_manifest(info.links["details"], "manifest-details"))
        ids = cpm.parse_manifest_shipments(self._read_manifest(info.links["manifestShipments"], "shipments"))
        self.result.count_call("CP_get_manifest", 3)
        if gid is None:
            # Whose is it? The shipments it holds say; the customer-ref we sent (the group id) too.
            ours = self.store.groups_of_shipments(ids) if ids else []
            ref = details.customer_ref
            if ref and (ref in ours or (not ours and self.store.shipping_group(ref) is not None)):
                gid = ref
            elif ours:
                if len(ours) > 1:
                    self.log.error("manifest %s holds shipments of several groups: %s", info.manifest_id, ours)
                gid = ours[0]
        if gid is None:
            self.log.info("manifest %s (PO %s) is not one of ours", info.manifest_id, info.po_number)
            return None
        _row, attached = self.store.record_manifest(
            manifest_id=info.manifest_id, group_id=gid, po_number=info.po_number, links=info.links,
            manifest_date=details.manifest_date, customer_ref=details.customer_ref, total_due=details.total_due,
            shipment_ids=ids, found_by=found_by,
        )
        unknown = len(ids) - len(attached)
        self.log.info("%s: manifest %s (PO %s) holds %d shipment(s)%s", gid, info.manifest_id, info.po_number,
                      len(ids), f", {unknown} not ours or already in another manifest" if unknown else "")
        return gid

    def _read_manifest(self, link: str, root: str) -> Any:
        """A manifest read; a manifest just made may not be readable at once: wait for it."""
        from orderflow.hooks.canadapost import CanadaPostNotFoundError

        deadline = self.now() + timedelta(seconds=float(self.settings.eod_manifest_wait_seconds))
        while True:
            try:
                return self.hook.read_manifest_document(link, root)
            except CanadaPostNotFoundError:
                if self.now() >= deadline:
                    raise
                self.sleep(2.0)

    # -------------------------------------------------------------------------------------------
    def store_manifests(self) -> None:
        for manifest in self.store.manifests_to_store():
            try:
                self._store_manifest(manifest)
            except Exception as exc:
                if classify(exc) == "config":
                    raise
                key = f"manifest {manifest['manifest_id']}"
                self.log.warning("%s: PDF not stored yet: %s", key, exc)
                self.result.record_transient(key, f"{type(exc).__name__}: {exc}")

    def _store_manifest(self, manifest: dict[str, Any]) -> None:
        from orderflow.label_store import write_label
        from orderflow.manifest_check import ManifestValidationError, validate_manifest_pdf

        key = f"manifest {manifest['manifest_id']}"
        link = (manifest.get("links") or {}).get("artifact")
        if not link:
            raise PermanentItemError("the manifest has no artifact link")
        last: ManifestValidationError | None = None
        for _ in range(2):  # a cut download validates badly once; a second bad one is the PDF itself
            data, _ctype = self.hook.get_label(link, MT_PDF)
            self.result.count_call("CP_manifest_pdf")
            try:
                validate_manifest_pdf(
                    data, po_number=manifest["po_number"], manifest_id=manifest["manifest_id"],
                    shipment_count=int(manifest["shipment_count"] or 0), tracking_pins=manifest["tracking_pins"],
                )
            except ManifestValidationError as exc:
                last = exc
                continue
            stored = write_label(self.settings.resolved_label_dir, "manifests", f"manifest-{manifest['manifest_id']}",
                                 data, "pdf")
            self.store.mark_manifest(manifest["id"], lifecycle.ManifestStatus.STORED, pdf_path=stored.path,
                                     pdf_sha256=stored.sha256)
            self.result.record_done(key, lifecycle.ManifestStatus.STORED)
            return
        assert last is not None
        self.store.mark_manifest(manifest["id"], lifecycle.ManifestStatus.INVALID,
                                 error={"reason": last.reason, "message": str(last)})
        self.result.record_failed(key, {"reason": str(last), "codes": [last.reason]})


# -------------------------------------------------------------------------------------------------
class CloseDayOperator(OrderStepOperator):
    """Close the mailing days whose cut-off has passed (or ``through``, a date, from the run's conf)."""

    step = "end_of_day"
    failed_status = None
    ui_color = "#eaf5e4"

    def __init__(self, *, canadapost_conn_id: str = "canadapost_default", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.canadapost_conn_id = canadapost_conn_id

    def run_step(self, context: Context) -> None:
        from orderflow.hooks.canadapost import CanadaPostHook
        from orderflow.mailing_day import CutOff, last_closed_day

        hook = CanadaPostHook(self.canadapost_conn_id)
        config = self.connect("Canada Post", lambda: hook.config)
        if not config.shipper.contract or config.group_strategy != "daily":
            self.log.info("no daily groups (contract %s, group_id %r): nothing to transmit",
                          config.shipper.contract, config.group_strategy)
            return
        dag_run = context.get("dag_run")
        conf = (dag_run.conf if dag_run is not None else None) or {}
        now = datetime.now(UTC)
        through = date.fromisoformat(conf["through"]) if conf.get("through") else \
            last_closed_day(now, CutOff.from_settings(self.settings))
        self.log.info("closing mailing days through %s", through)
        closer = DayCloser(self.store, hook, self.settings, actor=self.actor, result=self.result, log=self.log)
        try:
            closer.close(through)
        except Exception as exc:
            self.triage(exc, "Canada Post")
            raise

    failed_log_prefix = "NOT CLOSED"
    transient_log_template = "transient failure, left for the next try: %s: %s"

    def failure_line(self, key: str, detail: dict[str, Any]) -> str:
        return f"  {key}: {detail.get('reason')} {detail.get('codes') or ''}".rstrip()

    def failed_message(self, count: int) -> str:
        return (f"{self.step}: {count} group(s) or manifest(s) need a person (clear this task to "
                "re-attempt them):\n")

    def transient_message(self, count: int) -> str:
        return f"{self.step}: {count} group(s) or manifest(s) hit transient errors; retrying: "


__all__ = ["CloseDayOperator", "DayCloser"]
