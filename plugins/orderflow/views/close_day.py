"""The "Close the day" page (role Pack Supervisor): the day's Canada Post groups with their parcels and
what is still to pack, untransmitted groups of past days, the manifests to print, and a button that
runs the same close of day as the ``orderflow_end_of_day`` DAG (``operators.end_of_day.DayCloser``)."""

from __future__ import annotations

import dataclasses
import logging
from datetime import date, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response

from orderflow import lifecycle
from orderflow.mailing_day import CutOff, cutoff_at, last_closed_day, mailing_date
from orderflow.store import OrderStore
from orderflow.views.common import base_path, get_store, render, settings, utcnow
from orderflow.views.resources import END_OF_DAY, WRITE
from orderflow.views.security import StaffUser, require

log = logging.getLogger(__name__)
router = APIRouter(prefix="/close-day")

Reader = Annotated[StaffUser, Depends(require(END_OF_DAY))]
Writer = Annotated[StaffUser, Depends(require(END_OF_DAY, WRITE))]
Store = Annotated[OrderStore, Depends(get_store)]

# A person waits for the button's answer: the close waits at most this long for creates in flight
# and for manifests (the DAG's own waits may be longer).
PAGE_WAIT_SECONDS = 10.0
WARN_MINUTES = 60


def cutoff_clock(now: datetime, cut: CutOff | None = None) -> dict[str, Any]:
    """The cut-off clock of the packing station and this page."""
    cut = cut or CutOff.from_settings(settings())
    day = mailing_date(now, cut)
    at = cutoff_at(day, cut)
    left = (at - now).total_seconds()
    return {
        "mailing_day": day, "at": at, "left_seconds": left, "timezone": cut.timezone,
        "today": day == now.astimezone(cut.tz).date(),
        "css": "deadline-warn" if left < WARN_MINUTES * 60 else "deadline-ok",
    }


def closing_day(now: datetime, cut: CutOff) -> date:
    """What the button closes: today's mailing day (early, before its cut-off), else the last one."""
    local = now.astimezone(cut.tz).date()
    return local if local.weekday() in cut.days else last_closed_day(now, cut)


@router.get("/", name="close_day")
def page(request: Request, user: Reader, store: Store, msg: str | None = Query(None, max_length=500)) -> Response:
    cut = CutOff.from_settings(settings())
    now = utcnow()
    closing = closing_day(now, cut)
    groups = store.day_groups(min(last_closed_day(now, cut), closing))
    manifests: dict[str, list[dict[str, Any]]] = {}
    for m in store.manifests_of_groups([g["group_id"] for g in groups]):
        manifests.setdefault(m["group_id"], []).append(m)
    for g in groups:
        g["manifests"] = manifests.get(g["group_id"], [])
        g["unsettled"] = g["status"] in lifecycle.GROUP_UNSETTLED
    day = [g for g in groups if g["mailing_date"] >= closing]
    past_open = [g for g in groups if g["mailing_date"] < closing and g["unsettled"]]
    past_done = [g for g in groups if g["mailing_date"] < closing and not g["unsettled"]]
    return render(request, "close_day.html", {
        "user": user, "clock": cutoff_clock(now, cut), "closing": closing, "day_groups": day,
        "past_open": past_open, "past_done": past_done, "message": msg,
        "to_pack": sum(g["to_pack"] for g in day + past_open),
        "can_close": user.can(WRITE, END_OF_DAY),
    })


@router.post("/close", name="close_day_run")
def close_now(request: Request, user: Writer, store: Store) -> Response:
    from orderflow.hooks.canadapost import CanadaPostHook
    from orderflow.operators.end_of_day import DayCloser
    from orderflow.operators.step import StepResult

    s = settings()
    cut = CutOff.from_settings(s)
    through = closing_day(utcnow(), cut)
    hook = CanadaPostHook()
    try:
        config = hook.config
        if not config.shipper.contract or config.group_strategy != "daily":
            return _back(request, "No daily Canada Post groups (non-contract, or group_id is not 'daily'): "
                                  "nothing to transmit.")
        quick = dataclasses.replace(
            s, eod_in_flight_wait_seconds=min(PAGE_WAIT_SECONDS, s.eod_in_flight_wait_seconds),
            eod_manifest_wait_seconds=min(PAGE_WAIT_SECONDS, s.eod_manifest_wait_seconds))
        result = StepResult("end_of_day")
        DayCloser(store, hook, quick, actor=f"close-day page: {user.username}", result=result, log=log).close(through)
    except Exception as exc:  # a refused connection, Canada Post down: say so, nothing is lost
        log.exception("close of day from the page failed")
        return _back(request, f"The close of day stopped: {type(exc).__name__}: {exc}"[:400])
    done = ", ".join(f"{k} ({v})" for k, v in sorted(result.done.items())) or "nothing new"
    parts = [f"Closed through {through:%a %b %d}: {done}."]
    if result.waiting:
        parts.append("Waiting: " + "; ".join(f"{k}: {v}" for k, v in sorted(result.waiting.items())))
    if result.transient:
        later = "; ".join(f"{k}: {v}" for k, v in sorted(result.transient.items()))
        parts.append(f"Not yet (try again shortly): {later}")
    if result.failed:
        person = "; ".join(f"{k}: {v.get('reason')}" for k, v in sorted(result.failed.items()))
        parts.append(f"Needs a person: {person}")
    return _back(request, " ".join(parts)[:480])


def _back(request: Request, message: str) -> RedirectResponse:
    return RedirectResponse(f"{base_path(request)}/close-day/?{urlencode({'msg': message})}", status_code=303)


@router.get("/manifests/{manifest_row_id}.pdf", name="close_day_manifest_pdf")
def manifest_pdf(manifest_row_id: int, user: Reader, store: Store) -> Response:
    from orderflow.views.label_download import FILE_CSP, label_file

    m = store.manifest(manifest_row_id)
    stored = m is not None and m["status"] == lifecycle.ManifestStatus.STORED
    path = label_file(m["pdf_path"], settings().resolved_label_dir) if m is not None and stored else None
    if m is None or path is None:
        return JSONResponse({"error": "no stored manifest PDF"}, status_code=404)
    return FileResponse(path, media_type="application/pdf", headers={
        "Cache-Control": "no-store", "Content-Disposition": f'inline; filename="manifest-{m["po_number"]}.pdf"',
        "Content-Security-Policy": FILE_CSP, "X-Content-Type-Options": "nosniff"})


@router.post("/manifests/{manifest_row_id}/print", name="close_day_manifest_print")
def manifest_print(request: Request, manifest_row_id: int, user: Writer, store: Store) -> Response:
    if store.record_manifest_print(manifest_row_id, printed_by=user.username) is None:
        return JSONResponse({"error": "no stored manifest PDF"}, status_code=404)
    return RedirectResponse(f"{base_path(request)}/close-day/manifests/{manifest_row_id}.pdf", status_code=303)
