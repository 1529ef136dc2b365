"""The "Close the day" page through the whole Airflow app: who may see and use it, the day's groups with
their parcels and what is still to pack, untransmitted groups of past days, printing a stored
manifest (logged), CSRF on the button; the packing station's cut-off clock."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from orderflow.mailing_day import CutOff
from orderflow.views.close_day import closing_day


def _today() -> date:
    return closing_day(datetime.now(UTC), CutOff())


def labelled_in_group(store: Any, make_order: Any, day: date) -> tuple[str, str]:
    """An order with a stored label, its shipment in the open group of ``day``."""
    order_id = make_order([("AUD-TWS-200", 1)])
    (row,) = store.shipments_for_order(order_id)
    with store.transaction() as cur:  # make_order's label bought before groups: put it in one
        cur.execute("UPDATE shipments SET status = 'intent' WHERE id = %s", (row["id"],))
    group = store.assign_shipping_group(row["customer_request_id"], day)
    with store.transaction() as cur:
        cur.execute("UPDATE shipments SET status = 'label_stored' WHERE id = %s", (row["id"],))
    return order_id, group


def stored_manifest(store: Any, group: str, tmp: Path, shipment_ids: list[str]) -> dict[str, Any]:
    from orderflow.views.common import settings

    manifest, _ = store.record_manifest(
        manifest_id=f"9{abs(hash(group)) % 10**12}", group_id=group, po_number="P123456789", links={},
        manifest_date=None, customer_ref=group, total_due=None, shipment_ids=shipment_ids, found_by="test")
    pdf = Path(settings().resolved_label_dir) / "manifests" / f"manifest-{manifest['manifest_id']}.pdf"
    pdf.parent.mkdir(parents=True, exist_ok=True)
    pdf.write_bytes(b"%PDF-1.4\n% test manifest P123456789\n%%EOF\n")
    return store.mark_manifest(manifest["id"], "stored", pdf_path=str(pdf),
                               pdf_sha256=hashlib.sha256(pdf.read_bytes()).hexdigest())


def test_only_a_pack_supervisor_sees_and_uses_the_page(client_for) -> None:
    assert client_for("supervisor").get("/orderflow/close-day/").status_code == 200
    assert client_for("packer").get("/orderflow/close-day/").status_code == 403
    assert client_for("agent").get("/orderflow/close-day/").status_code == 403
    anonymous = client_for(None).get("/orderflow/close-day/")
    assert anonymous.status_code == 303 and "/auth/login/" in anonymous.headers["location"]
    # The button without the page's CSRF token changes nothing.
    refused = client_for("supervisor").post("/orderflow/close-day/close", data={})
    assert refused.status_code == 403
    assert client_for("packer").post("/orderflow/close-day/close", data={}).status_code == 403


def test_the_page_lists_groups_parcels_to_pack_past_groups_and_prints_a_manifest(
        client_for, make_order, views_store, tmp_path) -> None:
    today = _today()
    order_a, group = labelled_in_group(views_store, make_order, today)
    _, same = labelled_in_group(views_store, make_order, today)
    assert same == group
    old_day = today - timedelta(days=7)
    _, old_group = labelled_in_group(views_store, make_order, old_day)  # never transmitted
    transmitted_day = today - timedelta(days=8)
    _, done_group = labelled_in_group(views_store, make_order, transmitted_day)
    with views_store.transaction() as cur:
        cur.execute("UPDATE shipping_groups SET status = 'transmitted' WHERE group_id = %s", (done_group,))
    shipment = views_store.shipments_for_order(order_a)[0]["shipment_id"]
    manifest = stored_manifest(views_store, group, tmp_path, [shipment])

    client = client_for("supervisor")
    html = client.get("/orderflow/close-day/").text
    day_section = html[html.index('class="panel day-groups"'):]
    row = day_section[day_section.index(f'data-group="{group}"'):]
    row = row[: row.index("</tr>")]
    assert re.search(r'class="parcels">\s*2\s*<', row) and re.search(r'class="to-pack">\s*2\s*<', row)
    assert "P123456789" in row and "Print manifest" in row
    past = html[html.index('class="panel past-open"'): html.index('class="panel day-groups"')]
    assert old_group in past and done_group not in past  # only the untransmitted past group warns
    assert "still to pack" in html and 'id="cutoff-clock"' in html and "Transmit" in html

    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    printed = client.post(f"/orderflow/close-day/manifests/{manifest['id']}/print", data={"csrf_token": token})
    assert printed.status_code == 303
    pdf = client.get(printed.headers["location"])
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert hashlib.sha256(pdf.content).hexdigest() == manifest["pdf_sha256"]
    again = views_store.manifest(manifest["id"])
    assert again["printed_by"] == "supervisor" and again["printed_at"] is not None
    assert "Reprint manifest" in client.get("/orderflow/close-day/").text
    assert client_for("packer").get(printed.headers["location"]).status_code == 403


def test_the_packing_station_shows_the_cutoff_clock(client_for) -> None:
    html = client_for("packer").get("/orderflow/packing/").text
    clock = html[html.index('id="cutoff-clock"'):]
    clock = clock[: clock.index("</p>")]
    assert "Canada Post cut-off" in clock and ("left" in clock or "passed" in clock)
