"""Manifest PDF validation: is this the manifest Canada Post made of this group, printable as is?

The driver hands the manifest over at the post office with the parcels, so a blank or wrong PDF
(karrio #707) must be found at the close of day, not at the counter. Checks (each failure raises
:class:`ManifestValidationError` with a ``reason`` code):

1. ``not_pdf`` / ``truncated``: a PDF header and an ``%%EOF`` marker at the end.
2. ``unreadable`` / ``empty``: pypdf reads it, at least one page, a text layer.
3. ``wrong_manifest``: the text names this manifest (its PO number or its manifest id).
4. ``wrong_count``: the text says how many shipments it holds (``Shipments: N`` / ``Envois : N``)
   and that number is the count Canada Post listed; a PDF that prints no count must instead print
   every tracking PIN of the manifest's shipments (the conservative reading of an unconfirmed layout).
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass

from pypdf import PdfReader
from pypdf.errors import PdfReadError, PyPdfError

_COUNT = re.compile(r"(?:shipments|envois|parcels|colis|pieces)\s*:?\s*(\d+)", re.IGNORECASE)
_WHITESPACE = re.compile(r"\s+")
_READ_ERRORS = (PdfReadError, PyPdfError, ValueError, KeyError, TypeError, AttributeError, OSError)


class ManifestValidationError(ValueError):
    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(f"invalid manifest ({reason}): {message}")


@dataclass(frozen=True)
class ManifestPdfInfo:
    sha256: str
    size_bytes: int
    page_count: int


def validate_manifest_pdf(
    pdf: bytes,
    *,
    po_number: str | None,
    manifest_id: str | None,
    shipment_count: int,
    tracking_pins: Sequence[str] = (),
) -> ManifestPdfInfo:
    data = bytes(pdf or b"")
    if b"%PDF-" not in data[:1024]:
        raise ManifestValidationError("not_pdf", f"no PDF header (starts with {data[:16]!r})")
    if b"%%EOF" not in data[-1024:]:
        raise ManifestValidationError("truncated", f"no %%EOF marker at the end of the {len(data)}-byte file")
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        pages = list(reader.pages)
        text = "\n".join(page.extract_text() or "" for page in pages)
    except _READ_ERRORS as exc:
        raise ManifestValidationError("unreadable", f"pypdf cannot read it: {type(exc).__name__}: {exc}") from exc
    if not pages or not text.strip():
        raise ManifestValidationError("empty", f"{len(pages)} page(s) without text (a blank manifest)")
    names = [n for n in (po_number, manifest_id) if n]
    if not names or not any(n in text for n in names):
        raise ManifestValidationError("wrong_manifest", f"the text names neither PO {po_number} nor {manifest_id}")
    counts = {int(m.group(1)) for m in _COUNT.finditer(text)}
    if counts:
        if shipment_count not in counts:
            raise ManifestValidationError(
                "wrong_count", f"the PDF says {sorted(counts)} shipment(s), Canada Post listed {shipment_count}"
            )
    else:
        flat = _WHITESPACE.sub("", text).upper()
        missing = [p for p in tracking_pins if _WHITESPACE.sub("", p).upper() not in flat]
        if not tracking_pins or missing:
            raise ManifestValidationError(
                "wrong_count", f"no shipment count printed and {len(missing) or shipment_count} PIN(s) not listed"
            )
    return ManifestPdfInfo(hashlib.sha256(data).hexdigest(), len(data), len(pages))
