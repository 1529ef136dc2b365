"""Shipping labels and manifests as real documents.

A label is a one-page 4x6 inch PDF (288 x 432 pt) drawn with reportlab: the tracking PIN as a
Code 128 barcode and as extractable text, the recipient's name and postal code as text, so the
project's label check (PDF, PIN in its text) is exercised for real. ``invariant=1`` makes the
bytes identical on every fetch, as Canada Post's re-fetch returns the same label.
"""

from __future__ import annotations

import datetime as dt
import io

from reportlab.graphics.barcode.code128 import Code128
from reportlab.lib.pagesizes import letter
from reportlab.pdfgen import canvas

from sandbox.canadapost.state import EASTERN, Manifest, Shipment

LABEL_SIZE = (288.0, 432.0)  # 4 x 6 inches at 72 pt per inch


def _lines(party: dict) -> list[str]:
    city_line = " ".join(x for x in (party.get("city"), party.get("prov_state"), party.get("postal_code")) if x)
    lines = [
        party.get("name") or "",
        party.get("company") or "",
        party.get("address_line_1") or "",
        party.get("address_line_2") or "",
        city_line,
        party.get("country_code") if (party.get("country_code") or "CA") != "CA" else "",
    ]
    return [line for line in lines if line]


def label_pdf(sh: Shipment) -> bytes:
    buf = io.BytesIO()
    width, height = LABEL_SIZE
    c = canvas.Canvas(buf, pagesize=LABEL_SIZE, invariant=1)
    c.setTitle(f"Canada Post label {sh.tracking_pin}")
    c.setAuthor("orderflow sandbox (not a real Canada Post label)")
    label = sh.label
    margin = 14.0

    c.setLineWidth(1.5)
    c.rect(6, 6, width - 12, height - 12)
    c.setFont("Helvetica-Bold", 12)
    c.drawString(margin, height - 28, "Canada Post / Postes Canada")
    c.setFont("Helvetica-Bold", 11)
    c.drawRightString(width - margin, height - 28, label.get("service_code", ""))
    c.setFont("Helvetica", 8)
    c.drawString(margin, height - 40, label.get("service_name", ""))
    c.drawRightString(width - margin, height - 40, f"{label.get('weight', '')} kg")

    y = height - 60
    c.setFont("Helvetica-Bold", 7)
    c.drawString(margin, y, "FROM / DE:")
    c.setFont("Helvetica", 7)
    for line in _lines(label.get("sender") or {}):
        y -= 9
        c.drawString(margin, y, line[:60])

    y -= 18
    c.line(margin, y + 8, width - margin, y + 8)
    c.setFont("Helvetica-Bold", 9)
    c.drawString(margin, y - 4, "TO / A:")
    c.setFont("Helvetica-Bold", 12)
    for line in _lines(label.get("destination") or {}):
        y -= 15
        c.drawString(margin + 6, y - 4, line[:40])

    dest = label.get("destination") or {}
    if dest.get("postal_code"):
        y -= 26
        c.setFont("Helvetica-Bold", 20)
        c.drawString(margin + 6, y - 4, dest["postal_code"])

    refs = [r for r in (label.get("customer_ref_1"), label.get("customer_ref_2")) if r]
    if refs:
        c.setFont("Helvetica", 7)
        c.drawString(margin, 150, "Ref: " + " / ".join(refs))
    c.setFont("Helvetica", 7)
    c.drawString(margin, 140, f"Shipment {sh.shipment_id}")

    # The PIN as Code 128 (Canada Post's domestic parcel barcodes are Code 128), then as text.
    barcode = Code128(sh.tracking_pin, barHeight=64, barWidth=1.2, humanReadable=False)
    bx = max(margin, (width - barcode.width) / 2)
    barcode.drawOn(c, bx, 52)
    c.setFont("Helvetica-Bold", 12)
    c.drawCentredString(width / 2, 34, sh.tracking_pin)
    c.setFont("Helvetica", 6)
    c.drawCentredString(width / 2, 18, "SANDBOX LABEL - NOT VALID FOR MAILING")
    c.showPage()
    c.save()
    return buf.getvalue()


def label_zpl(sh: Shipment) -> bytes:
    """A 4x6 ZPL II label (203 dpi) with the same content as the PDF."""
    dest = sh.label.get("destination") or {}
    lines = _lines(dest)
    out = ["^XA", "^CI28", "^PW812", "^LL1218", "^FO30,30^A0N,36,36^FDCanada Post / Postes Canada^FS"]
    out.append(f"^FO600,30^A0N,36,36^FD{sh.label.get('service_code', '')}^FS")
    y = 160
    out.append("^FO30,120^A0N,28,28^FDTO / A:^FS")
    for line in lines:
        out.append(f"^FO50,{y}^A0N,40,40^FD{line}^FS")
        y += 48
    out.append(f"^FO60,820^BY3^BCN,180,N,N,N^FD{sh.tracking_pin}^FS")
    out.append(f"^FO200,1030^A0N,40,40^FD{sh.tracking_pin}^FS")
    out.append("^FO150,1120^A0N,24,24^FDSANDBOX LABEL - NOT VALID FOR MAILING^FS")
    out.append("^XZ")
    return ("\n".join(out) + "\n").encode("utf-8")


def manifest_pdf(m: Manifest, shipments: list[Shipment]) -> bytes:
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=letter, invariant=1)
    height = letter[1]
    c.setTitle(f"Canada Post manifest {m.po_number}")
    created = dt.datetime.fromtimestamp(m.created_at, EASTERN)
    y = height - 60
    c.setFont("Helvetica-Bold", 16)
    c.drawString(50, y, "Canada Post - Order / Manifest")
    y -= 24
    c.setFont("Helvetica", 10)
    for line in (
        f"PO number: {m.po_number}",
        f"Manifest: {m.manifest_id}",
        f"Customer: {m.mailed_by}   Date: {created:%Y-%m-%d %H:%M} ET",
        f"Groups: {', '.join(m.group_ids)}   Shipments: {len(shipments)}",
    ):
        c.drawString(50, y, line)
        y -= 14
    y -= 10
    c.setFont("Helvetica-Bold", 9)
    c.drawString(50, y, "Tracking PIN")
    c.drawString(200, y, "Service")
    c.drawString(280, y, "Destination")
    c.drawString(480, y, "Due")
    c.setFont("Helvetica", 9)
    for sh in shipments:
        y -= 13
        if y < 50:
            c.showPage()
            c.setFont("Helvetica", 9)
            y = height - 50
        dest = sh.label.get("destination") or {}
        c.drawString(50, y, sh.tracking_pin)
        c.drawString(200, y, sh.label.get("service_code", ""))
        c.drawString(280, y, f"{dest.get('name') or dest.get('company') or ''} {dest.get('postal_code') or ''}"[:40])
        c.drawString(480, y, sh.price.get("due-amount", ""))
    c.showPage()
    c.save()
    return buf.getvalue()
