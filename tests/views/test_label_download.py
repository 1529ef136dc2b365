"""Label downloads (issue 16 item 6): only PDF or ZPL media types, `nosniff` and a restrictive CSP on
the file itself, and the bytes served are the bytes that were validated (stored sha256 checked first;
a changed file is refused and logged)."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any


def _label(views_store: Any, order_id: str) -> dict[str, Any]:
    return views_store.shipments_for_order(order_id)[0]


def _url(order_id: str, shipment_id: int) -> str:
    return f"/orderflow/packing/orders/{order_id}/labels/{shipment_id}.pdf"


def test_a_label_is_served_as_pdf_with_nosniff_and_a_restrictive_csp(client_for, make_order, views_store):
    order_id = make_order([("AUD-TWS-200", 1)])
    label = _label(views_store, order_id)
    resp = client_for("packer").get(_url(order_id, label["id"]))
    assert resp.status_code == 200, resp.text[:300]
    assert resp.content == Path(label["label_path"]).read_bytes()
    assert resp.headers["content-type"].split(";")[0] == "application/pdf"
    assert resp.headers["x-content-type-options"] == "nosniff"
    csp = resp.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'self'" in csp
    assert resp.headers["cache-control"] == "no-store"


def test_a_label_file_changed_after_validation_is_refused_and_logged(client_for, make_order, views_store,
                                                                       caplog):
    order_id = make_order([("AUD-TWS-200", 1)])
    label = _label(views_store, order_id)
    path = Path(label["label_path"])
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit, same size
    path.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger="orderflow.views.packing"):
        resp = client_for("packer").get(_url(order_id, label["id"]))
    assert resp.status_code == 409
    assert b"%PDF" not in resp.content
    assert "changed since it was validated" in resp.json()["error"]
    logged = [r for r in caplog.records if r.name == "orderflow.views.packing" and r.levelno >= logging.WARNING]
    assert logged and order_id in logged[0].getMessage() and "sha256" in logged[0].getMessage()


def test_a_label_without_a_stored_checksum_is_not_served(client_for, make_order, views_store, views_sql):
    order_id = make_order([("AUD-TWS-200", 1)])
    label = _label(views_store, order_id)
    with views_sql.cursor() as cur:
        cur.execute("UPDATE shipments SET label_sha256 = NULL WHERE id = %s", (label["id"],))
    assert client_for("packer").get(_url(order_id, label["id"])).status_code == 409


def test_only_pdf_and_zpl_media_types_are_served(client_for, make_order, views_store, views_sql):
    order_id = make_order([("AUD-TWS-200", 1)])
    label = _label(views_store, order_id)
    packer = client_for("packer")
    path = Path(label["label_path"])

    def store_as(content_type: str, data: bytes) -> None:
        path.write_bytes(data)
        with views_sql.cursor() as cur:
            cur.execute("UPDATE shipments SET label_content_type = %s, label_sha256 = %s WHERE id = %s",
                        (content_type, hashlib.sha256(data).hexdigest(), label["id"]))

    # A stored row naming an active type (checksum intact) is refused, never sent with that type.
    for hostile in ("text/html", "image/svg+xml", "application/javascript", "text/html; charset=utf-8"):
        store_as(hostile, b"<script>alert(1)</script>")
        resp = packer.get(_url(order_id, label["id"]))
        assert resp.status_code == 409, hostile
        assert "text/html" not in resp.headers["content-type"] and b"<script>" not in resp.content

    zpl = b"^XA^FO50,50^ADN,36,20^FD7000000000000001^FS^XZ"
    store_as("application/zpl", zpl)
    resp = packer.get(_url(order_id, label["id"]))
    assert resp.status_code == 200 and resp.content == zpl
    assert resp.headers["content-type"].split(";")[0] == "application/zpl"
    assert resp.headers["content-disposition"].startswith("attachment;")  # a printer file, not a page
    assert resp.headers["x-content-type-options"] == "nosniff"
