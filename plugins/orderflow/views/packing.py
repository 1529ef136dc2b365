"""The packing station: the queue, one order's verification by scanning, packing and the label."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from orderflow import lifecycle
from orderflow.store import OrderStore
from orderflow.store.packing import MAX_BARCODE_LENGTH, PackingRefused, PackProgress, barcode_hint
from orderflow.views.close_day import cutoff_clock
from orderflow.views.common import base_path, get_store, render, settings, utcnow
from orderflow.views.label_download import label_response
from orderflow.views.resources import PACKING_OVERRIDE, PACKING_STATION, WRITE
from orderflow.views.security import StaffUser, require

router = APIRouter(prefix="/packing")

Reader = Annotated[StaffUser, Depends(require(PACKING_STATION))]
Writer = Annotated[StaffUser, Depends(require(PACKING_STATION, WRITE))]
Store = Annotated[OrderStore, Depends(get_store)]

# Deadline colours: red once late, amber inside this many hours (a shift's worth of warning).
WARN_HOURS = 4.0
# A station posts what it queued; more than this in one request is not a scanner, it is a bug.
MAX_SCANS_PER_REQUEST = 200


def flags() -> lifecycle.Flags:
    return lifecycle.flags_of(settings())


def packable_statuses() -> tuple[str, ...]:
    # With the pack-verify gate on, labels are printed at the station, so accepted orders are
    # picked and verified here too (their parcel is packed once its label exists).
    return tuple(lifecycle.packable_statuses(flags()))


def deadline_info(deadline: datetime | None, now: datetime) -> dict[str, Any]:
    if deadline is None:
        return {"css": "deadline-none", "left_seconds": None, "late": False}
    left = (deadline - now).total_seconds()
    css = "deadline-late" if left < 0 else "deadline-warn" if left < WARN_HOURS * 3600 else "deadline-ok"
    return {"css": css, "left_seconds": left, "late": left < 0}


def _progress_json(progress: PackProgress) -> dict[str, Any]:
    return progress.as_dict()


# -- pages ----------------------------------------------------------------------------------------
@router.get("/", name="packing_queue")
def queue_page(
    request: Request, user: Reader, store: Store, code: str | None = Query(None, max_length=200),
) -> Response:
    message = None
    if code is not None and code.strip():
        order_id = store.find_order_by_code(code.strip())
        if order_id is not None:
            return RedirectResponse(f"{base_path(request)}/packing/orders/{_q(order_id)}", status_code=303)
        message = f"No order found for “{code.strip()}” (order id, commercial id or tracking PIN)."
    now = utcnow()
    rows = store.pack_queue(flags())
    for row in rows:
        row["deadline"] = deadline_info(row["shipping_deadline"], now)
    return render(
        request,
        "packing_queue.html",
        {"user": user, "orders": rows, "message": message, "code": code or "", "gate": settings().pack_verify_gate,
         "cutoff": cutoff_clock(now)},
        status_code=404 if message else 200,
    )


@router.get("/orders/{order_id}", name="packing_order")
def order_page(request: Request, order_id: str, user: Reader, store: Store) -> Response:
    order = store.pack_order_header(order_id)
    if order is None:
        return render(request, "error.html", {"user": user, "title": "Unknown order",
                                              "message": f"No order {order_id}."}, status_code=404)
    session = store.pack_session(order_id)
    progress = store.pack_progress(order_id)
    scans = store.pack_session_scans(session["id"], limit=30) if session else []
    labels = store.pack_label_shipments(order_id)
    status = order["current_status"]
    # Packed: the parcel's session closed (or, before migration 010, the order's `packed` status).
    packed = status == lifecycle.S.PACKED or (session is not None and session["status"] == "packed")
    packable = status in packable_statuses() and not packed
    return render(
        request,
        "packing_order.html",
        {
            "user": user,
            "order": order,
            "progress": progress,
            "progress_json": _progress_json(progress),
            "session": session,
            "scans": scans,
            "labels": labels,
            "packable": packable,
            "packed": packed,
            "ended": status in lifecycle.ENDED,
            "can_override": user.can(WRITE, PACKING_OVERRIDE),
            "deadline": deadline_info(order["shipping_deadline"], utcnow()),
            "max_code": MAX_BARCODE_LENGTH,
        },
    )


@router.get("/orders/{order_id}/labels/{shipment_id}.pdf", name="packing_label")
def label_pdf(order_id: str, shipment_id: int, user: Reader, store: Store) -> Response:
    label = next((s for s in store.pack_label_shipments(order_id) if s["id"] == shipment_id), None)
    if label is None:
        return JSONResponse({"error": "no stored label for this order and shipment"}, status_code=404)
    return label_response(order_id, label, settings().resolved_label_dir)


# -- actions (JSON, called by packing.js) ---------------------------------------------------------
class ScanIn(BaseModel):
    # The station's own id for the scan: a batch posted again after a lost answer is not counted twice.
    id: str = Field(min_length=1, max_length=64)
    code: str = Field(max_length=MAX_BARCODE_LENGTH * 4)


class ScanBatch(BaseModel):
    scans: list[ScanIn] = Field(min_length=1, max_length=MAX_SCANS_PER_REQUEST)


class CompleteIn(BaseModel):
    override_reason: str | None = Field(default=None, max_length=1000)


class PrintIn(BaseModel):
    shipment_id: int


@router.post("/orders/{order_id}/scans", name="packing_scans")
def post_scans(order_id: str, batch: ScanBatch, user: Writer, store: Store) -> JSONResponse:
    try:
        outcomes, progress, packed = store.record_scans(
            order_id,
            [(s.id, s.code) for s in batch.scans],
            packer=user.username,
            packable_statuses=packable_statuses(),
        )
    except PackingRefused as exc:
        return JSONResponse({"error": exc.reason, "status": exc.status}, status_code=409)
    return JSONResponse(
        {
            "results": [
                {"id": o.client_id, "code": barcode_hint(o.barcode), "result": o.result, "ok": o.counted,
                 "message": o.message, "replayed": o.replayed}
                for o in outcomes
            ],
            "progress": _progress_json(progress),
            "packed": packed is not None,
        }
    )


@router.post("/orders/{order_id}/complete", name="packing_complete")
def post_complete(order_id: str, body: CompleteIn, user: Writer, store: Store) -> JSONResponse:
    reason = (body.override_reason or "").strip() or None
    if reason is not None and not user.can(WRITE, PACKING_OVERRIDE):
        return JSONResponse({"error": "Overriding a missing scan needs the Packing Override permission."},
                            status_code=403)
    try:
        progress, _packed = store.complete_pack(
            order_id, packer=user.username, packable_statuses=packable_statuses(), override_reason=reason
        )
    except PackingRefused as exc:
        return JSONResponse({"error": exc.reason, "status": exc.status}, status_code=409)
    return JSONResponse({"packed": True, "progress": _progress_json(progress)})


@router.post("/orders/{order_id}/label-prints", name="packing_label_print")
def post_label_print(order_id: str, body: PrintIn, user: Writer, store: Store) -> JSONResponse:
    if not any(s["id"] == body.shipment_id for s in store.pack_label_shipments(order_id)):
        return JSONResponse({"error": "no stored label for this order and shipment"}, status_code=404)
    row = store.record_label_print(order_id, body.shipment_id, printed_by=user.username)
    return JSONResponse({"print_id": row["id"], "is_reprint": row["is_reprint"]})


def _q(value: str) -> str:
    return quote(value, safe="")

