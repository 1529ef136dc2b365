"""Serving a stored label to the packing station: only what was validated, only as a label.

- The row's media type must be PDF or ZPL: a row is data, and data must not make the browser treat a
  file as a page (``text/html``, SVG, script). ZPL goes out as an attachment (a printer file).
- The bytes served are the bytes read and checked here against the sha256 stored when the label was
  validated: a file changed on disk afterwards (tampered, truncated, swapped) is refused and logged.
- The file response carries its own headers: ``nosniff``, a CSP that lets it run nothing and be
  framed only by our own page, and no caching.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from pathlib import Path
from typing import Any

from fastapi.responses import JSONResponse, Response

log = logging.getLogger("orderflow.views.packing")

MEDIA_TYPES: dict[str, tuple[str, str]] = {  # media type -> (file extension, disposition)
    "application/pdf": ("pdf", "inline"),
    "application/zpl": ("zpl", "attachment"),
}
FILE_CSP = "default-src 'none'; frame-ancestors 'self'; base-uri 'none'; form-action 'none'"


def label_file(label_path: str | None, label_dir: str) -> Path | None:
    """The stored label file, only if it is inside the label directory (a row is not a path license)."""
    if not label_path:
        return None
    root = Path(label_dir).resolve()
    candidate = Path(label_path)
    if not candidate.is_absolute():
        candidate = root / candidate
    candidate = candidate.resolve()
    if not candidate.is_relative_to(root) or not candidate.is_file():
        return None
    return candidate


def label_response(order_id: str, label: dict[str, Any], label_dir: str) -> Response:
    shipment_id = label["id"]
    media_type = (label.get("label_content_type") or "application/pdf").split(";", 1)[0].strip().lower()
    if media_type not in MEDIA_TYPES:
        log.warning("label of order %s shipment %s refused: stored media type %r is not a label type",
                    order_id, shipment_id, media_type[:80])
        return _refused("The stored label has an unexpected file type; it was not opened. Buy or reprint it.")
    path = label_file(label.get("label_path"), label_dir)
    if path is None:
        return JSONResponse({"error": "the label file is missing from the label store"}, status_code=404)
    data = path.read_bytes()
    expected = (label.get("label_sha256") or "").strip().lower()
    actual = hashlib.sha256(data).hexdigest()
    if not expected or not hmac.compare_digest(actual, expected):
        log.warning("label of order %s shipment %s refused: file %s changed since it was validated "
                    "(sha256 %s, stored %s)", order_id, shipment_id, path.name, actual[:16], expected[:16] or "none")
        return _refused("The label file changed since it was validated; it was not opened. Reprint the label "
                        "and tell a supervisor.")
    extension, disposition = MEDIA_TYPES[media_type]
    return Response(
        data,
        media_type=media_type,
        headers={
            "Cache-Control": "no-store",
            "Content-Disposition": f'{disposition}; filename="label-{int(shipment_id)}.{extension}"',
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": FILE_CSP,
            "X-Frame-Options": "SAMEORIGIN",
            "Referrer-Policy": "same-origin",
        },
    )


def _refused(message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=409,
                        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"})
