"""Shipping-label validation: is this really the label we paid for, printable as is?

A label is checked before it is stored and before the order is recorded ``label_created``: a wrong
or broken PDF discovered at the packing station costs a re-print at best, a parcel sent with another
order's label at worst. The checks (each failure raises :class:`LabelValidationError` with a
``reason`` code and a message naming what was expected and what was found):

1. ``not_pdf``: the bytes start with a PDF header (within the first 1024 bytes, as PDF allows).
2. ``truncated``: the file ends with an ``%%EOF`` marker (a cut download lacks it; pypdf would
   otherwise often "repair" it silently).
3. ``unreadable`` / ``encrypted``: pypdf parses it and it needs no password.
4. ``page_count``: exactly the expected number of pages (1 for a 4x6 thermal label).
5. ``page_size``: every page is the expected size (4x6 in by default, either orientation, within a
   tolerance), measured on the crop box, i.e. what a printer prints.
6. ``pin_missing``: the text layer contains the tracking PIN (whitespace ignored on both sides:
   labels print PINs in groups). This ties the file to *this* shipment.

The caller gets a :class:`LabelInfo` (sha256, byte size, pages, sizes) to store beside the file.
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
from dataclasses import dataclass

from pypdf import PageObject, PdfReader
from pypdf.errors import PdfReadError, PyPdfError

log = logging.getLogger(__name__)

POINTS_PER_INCH = 72.0
DEFAULT_PAGE_SIZE_IN: tuple[float, float] = (4.0, 6.0)
# 0.1 in: printers' PDFs carry sizes like 288x432 pt exactly, but some generators round to whole
# millimetres (101.6 mm -> 102 mm = 4.016 in); 0.1 in still rejects letter/A6 (4.13x5.83) pages.
DEFAULT_TOLERANCE_IN = 0.1
_WHITESPACE = re.compile(r"\s+")
# A literal string in a content stream, e.g. "(1234 5678 9012 3456) Tj" (no nested parentheses).
_LITERAL_STRING = re.compile(rb"\((?:[^()\\]|\\.)*\)", re.DOTALL)
_READ_ERRORS = (PdfReadError, PyPdfError, ValueError, KeyError, TypeError, AttributeError, OSError)


class LabelValidationError(ValueError):
    """The label is not a usable label for this shipment. ``reason`` is a short machine code."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(f"invalid label ({reason}): {message}")


@dataclass(frozen=True)
class LabelInfo:
    sha256: str
    size_bytes: int
    page_count: int
    # (width, height) of each page in inches, as printed (crop box, rotation applied).
    page_sizes_in: tuple[tuple[float, float], ...]


def _page_size_in(page: PageObject) -> tuple[float, float]:
    box = page.cropbox
    width = abs(float(box.width)) / POINTS_PER_INCH
    height = abs(float(box.height)) / POINTS_PER_INCH
    rotation = int(page.get("/Rotate", 0) or 0) % 360
    if rotation in (90, 270):
        width, height = height, width
    return round(width, 3), round(height, 3)


def _size_matches(actual: tuple[float, float], expected: tuple[float, float], tolerance: float) -> bool:
    # Either orientation: a 4x6 label rendered landscape (6x4) prints identically on a thermal printer.
    for want_w, want_h in (expected, (expected[1], expected[0])):
        if abs(actual[0] - want_w) <= tolerance and abs(actual[1] - want_h) <= tolerance:
            return True
    return False


def _normalise(text: str) -> str:
    return _WHITESPACE.sub("", text).upper()


def _pin_in_shown_strings(pages: list[PageObject], pin: str) -> bool:
    """Fast path of the PIN check: the PIN among the literal strings the pages' content streams show.

    ``extract_text`` interprets every operator of the page (font maps, positions): most of the CPU of
    validating a label, and shipping validates one per order. A label written with a standard font
    encoding (what label printers' PDFs and reportlab use) carries the PIN as plain bytes in the
    ``Tj``/``TJ`` strings, so finding it there is finding it in the text layer. Anything else (hex
    strings, escapes, CID fonts, a PIN split oddly) finds nothing here and falls back to
    ``extract_text``: the fast path can only accept what the full check would accept.
    """
    shown: list[bytes] = []
    for page in pages:
        contents = page.get_contents()
        if contents is None:
            continue
        shown.extend(m.group(0)[1:-1] for m in _LITERAL_STRING.finditer(contents.get_data()))
    return pin in _normalise(b"".join(shown).decode("latin-1"))


def validate_label(
    pdf: bytes,
    tracking_pin: str,
    *,
    expected_pages: int = 1,
    page_size_in: tuple[float, float] | None = DEFAULT_PAGE_SIZE_IN,
    tolerance_in: float = DEFAULT_TOLERANCE_IN,
) -> LabelInfo:
    """Check ``pdf`` is a label for ``tracking_pin``; return its :class:`LabelInfo` or raise
    :class:`LabelValidationError`. ``page_size_in=None`` skips the size check (e.g. letter-size
    paper labels, whose size is the caller's choice)."""
    if not isinstance(pdf, bytes | bytearray | memoryview):
        raise LabelValidationError("not_pdf", f"expected bytes, got {type(pdf).__name__}")
    data = bytes(pdf)
    if not tracking_pin or not _normalise(tracking_pin):
        raise LabelValidationError("pin_missing", "no tracking PIN given to check the label against")
    if not data:
        raise LabelValidationError("not_pdf", "empty file")
    if b"%PDF-" not in data[:1024]:
        start = data[:16]
        raise LabelValidationError("not_pdf", f"no PDF header in the first 1024 bytes (starts with {start!r})")
    if b"%%EOF" not in data[-1024:]:
        raise LabelValidationError("truncated", f"no %%EOF marker at the end of the {len(data)}-byte file")

    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            # An empty user password is common for "protected" but openable PDFs.
            try:
                if not reader.decrypt(""):
                    raise LabelValidationError("encrypted", "the PDF needs a password")
            except (PyPdfError, NotImplementedError) as exc:
                raise LabelValidationError("encrypted", f"the PDF cannot be decrypted: {exc}") from exc
        pages = list(reader.pages)
        page_count = len(pages)
        sizes = tuple(_page_size_in(page) for page in pages)
        pin = _normalise(tracking_pin)
        # The full text extraction only when the shown strings do not carry the PIN (see above).
        pin_found = _pin_in_shown_strings(pages, pin) or pin in _normalise(
            "".join(page.extract_text() or "" for page in pages)
        )
    except LabelValidationError:
        raise
    except _READ_ERRORS as exc:
        # pypdf raises a wide variety on damaged files; all mean the same to us.
        raise LabelValidationError("unreadable", f"pypdf cannot read it: {type(exc).__name__}: {exc}") from exc

    if page_count != expected_pages:
        raise LabelValidationError("page_count", f"expected {expected_pages} page(s), found {page_count}")
    if page_size_in is not None:
        for number, size in enumerate(sizes, start=1):
            if not _size_matches(size, page_size_in, tolerance_in):
                raise LabelValidationError(
                    "page_size",
                    f"page {number} is {size[0]:.2f}x{size[1]:.2f} in, expected "
                    f"{page_size_in[0]:g}x{page_size_in[1]:g} in (±{tolerance_in:g} in, either orientation)",
                )
    if not pin_found:
        # The PIN itself is an id, fine to name; the label text may hold the customer's address: not logged.
        raise LabelValidationError("pin_missing", f"tracking PIN {tracking_pin} not found in the label's text")

    info = LabelInfo(
        sha256=hashlib.sha256(data).hexdigest(),
        size_bytes=len(data),
        page_count=page_count,
        page_sizes_in=sizes,
    )
    log.info("label for PIN %s valid: %d page(s), sha256 %s", tracking_pin, page_count, info.sha256[:12])
    return info
