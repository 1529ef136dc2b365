"""The packing check cannot be typed past (issue 16 item 2): the station shows each expected unit by
name, SKU and a short barcode suffix, never the full code, in the page, in its scan log and in every
JSON answer the page gets; a packer has to scan the box to learn its code."""

from __future__ import annotations

import json
import re

from tests.views.test_packing import Station, barcodes

SKUS = ("LAP-AUR14-BNDL", "GAM-PAD")


def _expected_codes() -> list[str]:
    return [code for sku in SKUS for code, _ in barcodes(sku)]


def _assert_no_full_code(text: str, codes: list[str], where: str) -> None:
    leaked = [c for c in codes if c in text]
    assert leaked == [], f"full expected barcodes in {where}: {leaked}"


def test_the_order_page_shows_name_sku_and_a_suffix_never_the_full_code(client_for, make_order):
    order_id = make_order([(sku, 1) for sku in SKUS])
    codes = _expected_codes()
    station = Station(client_for("packer"), order_id)
    html = station.page.text
    _assert_no_full_code(html, codes, "the order page")
    text = re.sub(r"<[^>]+>", " ", html)
    for sku in SKUS:
        assert sku in text
    assert "Wireless game controller" in text and "65 W USB-C charger" in text
    for code in codes:
        assert f"…{code[-4:]}" in text  # enough to tell two boxes apart, not enough to type


def test_scan_answers_and_the_scan_log_never_echo_an_expected_code(client_for, make_order):
    order_id = make_order([(sku, 1) for sku in SKUS])
    codes = _expected_codes()
    client = client_for("packer")
    station = Station(client, order_id)
    laptop, charger, mouse = (c for c, _ in barcodes("LAP-AUR14-BNDL"))
    answer = station.scan(laptop, laptop, charger)  # ok, extra unit, ok
    assert [r["result"] for r in answer["results"]] == ["ok", "extra_unit", "ok"]
    _assert_no_full_code(json.dumps(answer), codes, "the scan answer")
    assert answer["results"][0]["code"] == f"…{laptop[-4:]}"

    # A wrong item's message does not spell out that product's code either (it is some order's code).
    tv = barcodes("TV-55-4K")[0][0]
    wrong = station.scan(tv)["results"][0]
    assert wrong["result"] == "wrong_item" and tv not in json.dumps(wrong)

    # Reloaded, the page's scan log shows what was scanned by suffix only.
    again = client.get(f"/orderflow/packing/orders/{order_id}").text
    _assert_no_full_code(again, [*codes, tv], "the reloaded page")
    assert f"…{laptop[-4:]}" in again

    # What the override answer and the final scan carry is hinted too.
    last = station.scan(mouse, *[c for c, _ in barcodes("GAM-PAD")])
    assert last["packed"] is True
    _assert_no_full_code(json.dumps(last), codes, "the last scan answer")
