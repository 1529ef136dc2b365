"""The packing station through the whole Airflow app: queue, scan checks, packing, labels, override."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import pytest

from sandbox.catalog import PRODUCTS_BY_SKU


def barcodes(sku: str) -> list[tuple[str, int]]:
    return [(c["barcode"], c["quantity"]) for c in PRODUCTS_BY_SKU[sku]["components"]]


class Station:
    """A logged-in packer's page: the CSRF token from the page, JSON calls like packing.js."""

    def __init__(self, client: Any, order_id: str) -> None:
        self.client = client
        self.order_id = order_id
        self.page = client.get(f"/orderflow/packing/orders/{order_id}")
        assert self.page.status_code == 200, self.page.text[:500]
        self.token = re.search(r'data-csrf="([^"]+)"', self.page.text).group(1)
        self.seq = 0

    def post(self, action: str, body: dict) -> Any:
        return self.client.post(
            f"/orderflow/packing/orders/{self.order_id}/{action}", json=body,
            headers={"X-CSRF-Token": self.token, "Accept": "application/json"},
        )

    def scan(self, *codes: str, ids: list[str] | None = None) -> dict:
        if ids is None:
            ids = []
            for _ in codes:
                self.seq += 1
                ids.append(f"scan-{self.seq}")
        resp = self.post("scans", {"scans": [{"id": i, "code": c} for i, c in zip(ids, codes, strict=True)]})
        assert resp.status_code == 200, resp.text
        return resp.json()


def test_queue_lists_packable_orders_by_ship_by_deadline_with_warning_colours(client_for, make_order):
    late = make_order([("AUD-TWS-200", 1)], deadline_in=timedelta(hours=-1))
    soon = make_order([("AUD-TWS-200", 1)], deadline_in=timedelta(hours=2))
    later = make_order([("AUD-TWS-200", 1)], deadline_in=timedelta(hours=40))
    not_ready = make_order([("AUD-TWS-200", 1)], status="accepted")
    html = client_for("packer").get("/orderflow/packing/").text
    positions = [html.index(o) for o in (late, soon, later)]
    assert positions == sorted(positions)
    assert not_ready not in html  # pack-verify gate off: accepted orders are not packed here
    row = lambda oid: html[html.rindex("<tr", 0, html.index(oid)) : html.index(oid)]  # noqa: E731
    assert 'class="deadline-late"' in row(late) and "LATE" in row(late)
    assert 'class="deadline-warn"' in row(soon)
    assert 'class="deadline-ok"' in row(later)


def test_open_an_order_by_id_or_tracking_pin(client_for, make_order, views_store):
    order_id = make_order([("AUD-TWS-200", 1)])
    pin = views_store.shipments_for_order(order_id)[0]["tracking_pin"]
    client = client_for("packer")
    for code in (order_id, pin, f"  {pin} "):
        resp = client.get("/orderflow/packing/", params={"code": code})
        assert resp.status_code == 303
        assert resp.headers["location"] == f"/orderflow/packing/orders/{order_id}"
    missing = client.get("/orderflow/packing/", params={"code": "NOPE-123"})
    assert missing.status_code == 404 and "No order found" in missing.text


def test_order_view_shows_components_and_only_name_and_city(client_for, make_order):
    order_id = make_order([("LAP-AUR14-BNDL", 2), ("AUD-SPK-GO-2PK", 1)], firstname="Émilie", lastname="Roy",
                          city="Gatineau")
    html = Station(client_for("packer"), order_id).page.text
    for sku in ("LAP-AUR14-BNDL", "AUD-SPK-GO-2PK"):
        for code, _ in barcodes(sku):
            assert code not in html and f"…{code[-4:]}" in html  # a suffix only (tests/views/test_packing_codes.py)
    # 2 bundles x 3 components + 1 two-pack of speakers x 2 = 8 units
    assert "0 of 8 items" in re.sub(r"<[^>]+>", "", html)
    assert "Émilie Roy" in html and "Gatineau" in html
    assert "123 Secret Street" not in html and "K1A 0B1" not in html


def test_scans_tick_units_errors_count_nothing_and_the_last_unit_packs(client_for, make_order, views_store,
                                                                      views_sql):
    order_id = make_order([("AUD-SPK-GO-2PK", 1), ("GAM-PAD", 1)])
    speaker = barcodes("AUD-SPK-GO-2PK")[0][0]
    pad, batteries = (c for c, _ in barcodes("GAM-PAD"))
    tv = barcodes("TV-55-4K")[0][0]
    station = Station(client_for("packer"), order_id)

    first = station.scan(speaker)
    assert first["results"][0]["result"] == "ok" and first["progress"]["counted"] == 1
    # A burst from a wedge scanner arrives as one batch and is checked in order.
    burst = station.scan(speaker, speaker, tv, "0000000000000", pad)
    assert [r["result"] for r in burst["results"]] == ["ok", "extra_unit", "wrong_item", "unknown_code", "ok"]
    assert [r["ok"] for r in burst["results"]] == [True, False, False, False, True]
    assert burst["progress"]["counted"] == 3 and burst["progress"]["expected"] == 4
    assert burst["packed"] is False
    assert "not in this order" in burst["results"][2]["message"]
    assert views_store.current_status(order_id) == "label_created"

    last = station.scan(batteries)
    assert last["packed"] is True and last["progress"]["complete"] is True
    # Packing is a fact about the parcel (its pack session), not a status: the order stays where it is.
    assert views_store.current_status(order_id) == "label_created"
    assert views_store.shipments_for_order(order_id)[0]["pack_session_id"] is not None
    with views_sql.cursor() as cur:
        cur.execute("SELECT result, scanned_by FROM pack_scans WHERE order_id = %s ORDER BY id", (order_id,))
        rows = cur.fetchall()
        cur.execute("SELECT status, packer FROM pack_sessions WHERE order_id = %s", (order_id,))
        assert cur.fetchall() == [("packed", "packer")]
    # Every scan is stored, good or bad.
    assert [r[0] for r in rows] == ["ok", "ok", "extra_unit", "wrong_item", "unknown_code", "ok", "ok"]
    assert {r[1] for r in rows} == {"packer"}

    # A packed order takes no more scans.
    resp = station.post("scans", {"scans": [{"id": "late", "code": speaker}]})
    assert resp.status_code == 409 and "packed" in resp.json()["error"]


def test_a_batch_posted_again_is_not_counted_twice(client_for, make_order, views_sql):
    order_id = make_order([("CBL-HDMI-2M-3PK", 1)])  # one barcode, 3 units
    cable = barcodes("CBL-HDMI-2M-3PK")[0][0]
    station = Station(client_for("packer"), order_id)
    once = station.scan(cable, cable, ids=["a", "b"])
    again = station.scan(cable, cable, ids=["a", "b"])  # the answer was lost; packing.js re-posts
    assert once["progress"]["counted"] == again["progress"]["counted"] == 2
    with views_sql.cursor() as cur:
        cur.execute("SELECT count(*) FROM pack_scans WHERE order_id = %s", (order_id,))
        assert cur.fetchone()[0] == 2


def test_label_print_and_reprint_are_logged(client_for, make_order, views_store, views_sql):
    order_id = make_order([("STO-SSD-1TB", 1)])
    station = Station(client_for("packer"), order_id)
    station.scan(barcodes("STO-SSD-1TB")[0][0])
    shipment_id = views_store.pack_label_shipments(order_id)[0]["id"]
    pdf = station.client.get(f"/orderflow/packing/orders/{order_id}/labels/{shipment_id}.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert pdf.headers["content-type"] == "application/pdf"
    first = station.post("label-prints", {"shipment_id": shipment_id}).json()
    second = station.post("label-prints", {"shipment_id": shipment_id}).json()
    assert (first["is_reprint"], second["is_reprint"]) == (False, True)
    with views_sql.cursor() as cur:
        cur.execute("SELECT printed_by, is_reprint FROM label_prints WHERE order_id = %s ORDER BY id", (order_id,))
        assert cur.fetchall() == [("packer", False), ("packer", True)]
    # Another order's label is not reachable through this order.
    other = make_order([("STO-SSD-1TB", 1)])
    assert station.client.get(f"/orderflow/packing/orders/{other}/labels/{shipment_id}.pdf").status_code == 404
    assert station.post("label-prints", {"shipment_id": shipment_id + 10_000}).status_code == 404


def test_override_needs_a_reason_and_the_override_permission(client_for, make_order, views_store, views_sql):
    order_id = make_order([("TV-SNDBAR-21", 1)])
    soundbar = barcodes("TV-SNDBAR-21")[0][0]
    packer = Station(client_for("packer"), order_id)
    packer.scan(soundbar)
    assert "override-open" not in packer.page.text  # no button without the permission
    refused = packer.post("complete", {"override_reason": "subwoofer label unreadable"})
    assert refused.status_code == 403
    incomplete = packer.post("complete", {})
    assert incomplete.status_code == 409 and "not scanned" in incomplete.json()["error"]
    assert views_store.current_status(order_id) == "label_created"

    supervisor = Station(client_for("supervisor"), order_id)
    assert "override-open" in supervisor.page.text
    assert supervisor.post("complete", {"override_reason": "   "}).status_code == 409
    done = supervisor.post("complete", {"override_reason": "subwoofer label unreadable, checked by eye"})
    assert done.status_code == 200 and done.json()["packed"] is True
    with views_sql.cursor() as cur:
        cur.execute("SELECT status, override_by, override_reason FROM pack_sessions WHERE order_id = %s",
                    (order_id,))
        assert cur.fetchall() == [("packed", "supervisor", "subwoofer label unreadable, checked by eye")]
    with views_sql.cursor() as cur:
        cur.execute("SELECT result, scanned_by, detail->>'reason' FROM pack_scans WHERE order_id = %s ORDER BY id",
                    (order_id,))
        rows = cur.fetchall()
        cur.execute("SELECT override_reason, override_by FROM pack_sessions WHERE order_id = %s", (order_id,))
        session = cur.fetchone()
    assert rows == [("ok", "packer", None), ("override", "supervisor", "subwoofer label unreadable, checked by eye")]
    assert session == ("subwoofer label unreadable, checked by eye", "supervisor")


@pytest.mark.parametrize(
    "hostile",
    ["' OR '1'='1", "'; DROP TABLE orders; --", "x%' UNION SELECT order_id FROM orders --", "\\\"<script>"],
)
def test_hostile_codes_are_just_unknown_codes(client_for, make_order, views_sql, hostile):
    order_id = make_order([("AUD-TWS-200", 1)])
    client = client_for("packer")
    with views_sql.cursor() as cur:
        cur.execute("SELECT count(*) FROM orders")
        orders_before = cur.fetchone()[0]
    # As an order lookup: nothing found, nothing harmed.
    resp = client.get("/orderflow/packing/", params={"code": hostile})
    assert resp.status_code == 404
    assert "<script>" not in resp.text
    # As an order id in the path.
    assert client.get(f"/orderflow/packing/orders/{quote(hostile, safe='')}").status_code == 404
    # As a scan: stored literally, counted as unknown.
    result = Station(client, order_id).scan(hostile)["results"][0]
    assert result["result"] == "unknown_code"
    with views_sql.cursor() as cur:
        cur.execute("SELECT count(*) FROM orders")
        assert cur.fetchone()[0] == orders_before
        cur.execute("SELECT barcode FROM pack_scans WHERE order_id = %s", (order_id,))
        assert cur.fetchall() == [(hostile.strip(),)]


def test_with_the_pack_gate_on_accepted_orders_are_verified_and_wait_for_their_label(
    client_for, make_order, views_store, monkeypatch
):
    from orderflow.views import common

    monkeypatch.setenv("ORDERFLOW_PACK_VERIFY_GATE", "true")
    common.reset_caches()
    try:
        order_id = make_order([("AUD-TWS-200", 1)], status="accepted")
        client = client_for("packer")
        assert order_id in client.get("/orderflow/packing/").text
        station = Station(client, order_id)
        result = station.scan(barcodes("AUD-TWS-200")[0][0])
        assert result["progress"]["complete"] is True and result["packed"] is False
        assert views_store.current_status(order_id) == "accepted"  # no label yet: nothing packed
        refused = station.post("complete", {})
        assert refused.status_code == 409 and "label" in refused.json()["error"]
    finally:
        monkeypatch.delenv("ORDERFLOW_PACK_VERIFY_GATE")
        common.reset_caches()


def test_a_fully_verified_order_is_finished_once_its_label_exists(client_for, make_order, views_store):
    """Pack-verify gate: verified while `accepted`; when the label arrives the page offers Finish."""
    order_id = make_order([("AUD-TWS-200", 1)])  # label_created
    client = client_for("packer")
    # Scans recorded earlier (as while the order was accepted), without packing.
    views_store.record_scans(order_id, [("early-1", barcodes("AUD-TWS-200")[0][0])], packer="packer",
                             packable_statuses=("label_created",), pack_when_complete=False)
    station = Station(client, order_id)
    assert 'id="finish"' in station.page.text
    done = station.post("complete", {})
    assert done.status_code == 200 and done.json()["packed"] is True
    assert views_store.shipments_for_order(order_id)[0]["pack_session_id"] is not None


# -- packing is a fact about the parcel (issue 12 items 1, 2) ---------------------------------------
def test_the_queue_lists_every_labelled_unpacked_parcel_even_once_best_buy_was_told_it_shipped(
    client_for, make_order, views_store, views_sql
):
    """Gate off (the default): tracking tells Best Buy seconds after the label; the parcel is still
    in the warehouse and waits on the queue until packed, by ship-by deadline."""
    late = make_order([("AUD-TWS-200", 1)], deadline_in=timedelta(hours=-2))
    soon = make_order([("AUD-TWS-200", 1)], deadline_in=timedelta(hours=3))
    later = make_order([("AUD-TWS-200", 1)], deadline_in=timedelta(hours=50))
    for order_id in (late, later):
        views_store.record_transition(order_id, "shipped", actor="tracking")  # as tracking does, gate off
    client = client_for("packer")
    html = client.get("/orderflow/packing/").text
    positions = [html.index(o) for o in (late, soon, later)]
    assert positions == sorted(positions)

    # Packing a shipped order's parcel: the pack session records who and when; the order stays shipped.
    station = Station(client, late)
    assert station.scan(barcodes("AUD-TWS-200")[0][0])["packed"] is True
    assert views_store.current_status(late) == "shipped"
    with views_sql.cursor() as cur:
        cur.execute("SELECT status, packer, completed_at IS NOT NULL, shipment_id FROM pack_sessions "
                    "WHERE order_id = %s", (late,))
        ((status, packer, completed, shipment_id),) = cur.fetchall()
    assert (status, packer, completed) == ("packed", "packer", True)
    assert shipment_id == views_store.shipments_for_order(late)[0]["id"]
    html = client.get("/orderflow/packing/").text
    assert late not in html and soon in html and later in html
    assert "PACKED" in Station(client, late).page.text


def test_an_order_canceled_on_the_queue_leaves_it_and_its_page_says_do_not_ship(
    client_for, make_order, views_store
):
    order_id = make_order([("AUD-TWS-200", 1)])
    client = client_for("packer")
    assert order_id in client.get("/orderflow/packing/").text
    views_store.record_transition(order_id, "canceled", actor="ingest")
    assert order_id not in client.get("/orderflow/packing/").text
    station = Station(client, order_id)
    assert "canceled: do not ship" in station.page.text.lower()
    refused = station.post("scans", {"scans": [{"id": "c-1", "code": barcodes("AUD-TWS-200")[0][0]}]})
    assert refused.status_code == 409 and "do not ship" in refused.json()["error"]
