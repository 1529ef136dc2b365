"""The store's memory of non-contract shipments read at Canada Post (issue 12 item 9)."""

from __future__ import annotations


def _row(href: str, ref2: str) -> dict:
    return {"href": href, "shipment_id": href.rsplit("/", 1)[1], "tracking_pin": "7000" + href[-3:],
            "customer_ref_1": "O", "customer_ref_2": ref2, "links": {"self": href}}


def test_remembered_shipments_are_kept_once_and_forgotten_after_thirty_days(store):
    base = "https://ct.soa-gw.canadapost.ca/rs/0001234567/ncshipment/"
    store.remember_nc_shipments([_row(base + "101", "A-1"), _row(base + "102", "B-1")])
    store.remember_nc_shipments([_row(base + "101", "CHANGED-1")])  # a shipment never changes: first stays
    known = store.seen_nc_shipments([base + "101", base + "102", base + "999"])
    assert {h: r["customer_ref_2"] for h, r in known.items()} == {base + "101": "A-1", base + "102": "B-1"}
    assert known[base + "101"]["links"] == {"self": base + "101"}
    assert store.seen_nc_shipments([]) == {}

    with store.transaction() as cur:
        cur.execute("UPDATE canadapost_seen_shipments SET first_seen_at = now() - interval '31 days' "
                    "WHERE href = %s", (base + "102",))
    store.remember_nc_shipments([_row(base + "103", "C-1")])
    assert set(store.seen_nc_shipments([base + "101", base + "102", base + "103"])) == {base + "101", base + "103"}
