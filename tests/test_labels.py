"""Label validation on real PDFs drawn with reportlab."""

from __future__ import annotations

import hashlib
import io

import pytest
from reportlab.graphics.barcode import code128
from reportlab.lib.units import inch
from reportlab.pdfgen import canvas

from orderflow.labels import LabelValidationError, validate_label

PIN = "7023210039414604"


def make_pdf(
    *,
    pin: str | None = PIN,
    pages: int = 1,
    size_in: tuple[float, float] = (4, 6),
    pin_grouped: bool = False,
    encrypt: str | None = None,
) -> bytes:
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=(size_in[0] * inch, size_in[1] * inch), encrypt=encrypt)
    for page in range(pages):
        c.setFont("Helvetica-Bold", 14)
        c.drawString(0.3 * inch, 5.5 * inch, "CANADA POST / POSTES CANADA")
        c.setFont("Helvetica", 10)
        c.drawString(0.3 * inch, 5.2 * inch, "SHIP TO: J. SMITH, 123 MAIN ST, OTTAWA ON K1A 0B1")
        if pin is not None:
            code128.Code128(pin, barHeight=0.8 * inch).drawOn(c, 0.3 * inch, 2.0 * inch)
            shown = " ".join(pin[i : i + 4] for i in range(0, len(pin), 4)) if pin_grouped else pin
            c.drawString(0.6 * inch, 1.7 * inch, shown)
        c.drawString(0.3 * inch, 0.3 * inch, f"page {page + 1}")
        c.showPage()
    c.save()
    return buf.getvalue()


def test_valid_4x6_label_with_pin():
    pdf = make_pdf()
    info = validate_label(pdf, PIN)
    assert info.page_count == 1
    assert info.page_sizes_in == ((4.0, 6.0),)
    assert info.sha256 == hashlib.sha256(pdf).hexdigest()
    assert info.size_bytes == len(pdf)


def test_pin_printed_in_groups_still_matches():
    validate_label(make_pdf(pin_grouped=True), PIN)


def test_landscape_6x4_is_accepted():
    assert validate_label(make_pdf(size_in=(6, 4)), PIN).page_sizes_in == ((6.0, 4.0),)


def test_wrong_pin_is_rejected():
    with pytest.raises(LabelValidationError) as err:
        validate_label(make_pdf(pin="1111222233334444"), PIN)
    assert err.value.reason == "pin_missing"
    assert PIN in str(err.value)


def test_label_without_any_pin_text_is_rejected():
    with pytest.raises(LabelValidationError) as err:
        validate_label(make_pdf(pin=None), PIN)
    assert err.value.reason == "pin_missing"


def test_two_pages_are_rejected():
    with pytest.raises(LabelValidationError) as err:
        validate_label(make_pdf(pages=2), PIN)
    assert err.value.reason == "page_count"
    assert "expected 1 page(s), found 2" in str(err.value)


def test_two_pages_accepted_when_expected():
    assert validate_label(make_pdf(pages=2), PIN, expected_pages=2).page_count == 2


def test_letter_size_is_rejected_as_wrong_size():
    with pytest.raises(LabelValidationError) as err:
        validate_label(make_pdf(size_in=(8.5, 11)), PIN)
    assert err.value.reason == "page_size"
    assert "8.50x11.00 in" in str(err.value)


def test_a6_is_outside_the_tolerance():
    # A6 (4.13 x 5.83 in) is the closest common size; it must not pass as 4x6.
    with pytest.raises(LabelValidationError) as err:
        validate_label(make_pdf(size_in=(4.134, 5.827)), PIN)
    assert err.value.reason == "page_size"


def test_size_check_can_be_disabled_for_paper_labels():
    assert validate_label(make_pdf(size_in=(8.5, 11)), PIN, page_size_in=None).page_count == 1


def test_not_a_pdf_is_rejected():
    with pytest.raises(LabelValidationError) as err:
        validate_label(b"<html><body>502 Bad Gateway</body></html>", PIN)
    assert err.value.reason == "not_pdf"
    with pytest.raises(LabelValidationError) as err:
        validate_label(b"", PIN)
    assert err.value.reason == "not_pdf"


def test_truncated_pdf_is_rejected():
    pdf = make_pdf()
    with pytest.raises(LabelValidationError) as err:
        validate_label(pdf[: len(pdf) // 2], PIN)
    assert err.value.reason == "truncated"


def test_garbage_with_pdf_header_and_eof_is_unreadable():
    with pytest.raises(LabelValidationError) as err:
        validate_label(b"%PDF-1.4\n" + b"\x00garbage" * 50 + b"\n%%EOF\n", PIN)
    assert err.value.reason == "unreadable"


def test_encrypted_pdf_with_empty_user_password_is_read():
    assert validate_label(make_pdf(encrypt=""), PIN).page_count == 1


def test_password_protected_pdf_is_rejected():
    with pytest.raises(LabelValidationError) as err:
        validate_label(make_pdf(encrypt="secret"), PIN)
    assert err.value.reason == "encrypted"


def test_empty_pin_is_refused():
    with pytest.raises(LabelValidationError):
        validate_label(make_pdf(), "  ")


def test_pin_in_the_shown_strings_needs_no_full_text_extraction(monkeypatch):
    from pypdf import PageObject

    def no_extraction(self, *args, **kwargs):
        raise AssertionError("extract_text should not run when the content stream shows the PIN")

    monkeypatch.setattr(PageObject, "extract_text", no_extraction)
    assert validate_label(make_pdf(pin_grouped=True), PIN).page_count == 1


def test_full_text_extraction_decides_when_the_fast_path_finds_nothing(monkeypatch):
    import orderflow.labels as labels

    monkeypatch.setattr(labels, "_pin_in_shown_strings", lambda pages, pin: False)
    assert validate_label(make_pdf(), PIN).page_count == 1  # extract_text still finds it
    with pytest.raises(LabelValidationError) as exc:
        validate_label(make_pdf(pin="1111222233334444"), PIN)
    assert exc.value.reason == "pin_missing"


def test_pin_only_in_the_metadata_or_barcode_is_not_in_the_text():
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=(4 * inch, 6 * inch))
    c.setTitle(f"label {PIN}")  # the document info, not the page
    code128.Code128(PIN, barHeight=0.8 * inch).drawOn(c, 0.3 * inch, 2.0 * inch)  # bars, no text
    c.drawString(0.3 * inch, 0.3 * inch, "no pin here")
    c.showPage()
    c.save()
    with pytest.raises(LabelValidationError) as exc:
        validate_label(buf.getvalue(), PIN)
    assert exc.value.reason == "pin_missing"
