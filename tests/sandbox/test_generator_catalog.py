"""Catalog data and the seeded order/message generator."""

from __future__ import annotations

import re

from sandbox.catalog import BARCODES, PRODUCTS, PRODUCTS_BY_SKU, ean13, is_valid_ean13
from sandbox.generator import MESSAGE_KINDS, PROVINCES, Generator, is_valid_postal_code
from sandbox.testing import running_sandbox
from tests.sandbox.conftest import MiraklClient


def test_catalog_is_plain_seedable_data():
    assert 18 <= len(PRODUCTS) <= 25 and len(PRODUCTS_BY_SKU) == len(PRODUCTS)
    for product in PRODUCTS:
        assert set(product) >= {"sku", "name", "weight_kg", "length_cm", "width_cm", "height_cm", "components"}
        assert product["weight_kg"] > 0 and product["price"] > 0
        assert product["components"], product["sku"]
        barcodes = [c["barcode"] for c in product["components"]]
        assert len(barcodes) == len(set(barcodes))  # (sku, barcode) is unique in product_components
        for component in product["components"]:
            assert is_valid_ean13(component["barcode"]) and component["quantity"] >= 1
            assert component["name"] == BARCODES[component["barcode"]]
    bundle = PRODUCTS_BY_SKU["LAP-AUR14-BNDL"]["components"]
    assert len(bundle) == 3  # laptop + charger + mouse
    assert any(c["quantity"] > 1 for p in PRODUCTS for c in p["components"])  # multi-packs exist


def test_ean13_check_digit():
    assert ean13("400638133393") == "4006381333931"  # a well-known valid EAN
    assert is_valid_ean13("4006381333931") and not is_valid_ean13("4006381333932")


def test_generated_orders_are_canadian_and_bounded():
    gen = Generator(5)
    for _ in range(300):
        order = gen.order()
        address = order.address
        assert address["state"] in PROVINCES
        assert is_valid_postal_code(address["zip_code"]), address["zip_code"]
        assert address["zip_code"][0] in PROVINCES[address["state"]][0]
        assert address["city"] in PROVINCES[address["state"]][1]
        assert address["country_iso_code"] == "CAN"
        assert 1 <= len(order.lines) <= 5 and all(1 <= line.quantity <= 5 for line in order.lines)
        assert len({line.sku for line in order.lines}) == len(order.lines)
        assert all(line.sku in PRODUCTS_BY_SKU for line in order.lines)


def test_postal_code_format_check():
    assert is_valid_postal_code("K1A 0B1") and is_valid_postal_code("H3Z 2Y7")
    assert not is_valid_postal_code("K1A0B1") and not is_valid_postal_code("D1A 0B1")
    assert not is_valid_postal_code("W1A 0B1") and not is_valid_postal_code("K1O 0B1")


def test_generator_is_deterministic_for_a_seed():
    def sample(seed: int):
        gen = Generator(seed)
        return [gen.order() for _ in range(20)], [gen.message("1-A", "Ann") for _ in range(20)]

    assert sample(11) == sample(11)
    assert sample(11) != sample(12)


def test_sandboxes_with_one_seed_serve_the_same_orders_and_threads():
    def contents(seed: int):
        with running_sandbox(seed=seed, orders=8, with_canadapost=False) as sb:
            sb.generate_messages(6)
            client = MiraklClient(sb)
            orders = client.orders(max=100)
            threads = client.get("/api/inbox/threads", with_messages="true").json()["data"]
            # Dates follow the wall clock; everything else is the seed's.
            return (
                [(o["order_id"], o["customer"], [(x["offer_sku"], x["quantity"]) for x in o["order_lines"]])
                 for o in orders],
                sorted((t["id"], t["entities"][0]["id"], [m["body"] for m in t["messages"]]) for t in threads),
            )

    first = contents(21)
    assert first == contents(21)
    assert first != contents(22)


def test_message_variety():
    gen = Generator(2)
    messages = [gen.message("250000000-A", "Zoé") for _ in range(400)]
    kinds = {m.kind for m in messages}
    assert kinds == set(MESSAGE_KINDS)
    bodies = [m.body for m in messages]
    assert any("<script>" in b for b in bodies)
    assert any(re.search(r"<(p|b|ul|html)>", b) for b in bodies)
    assert any(len(b) > 10_000 for b in bodies) and all(len(b) <= 50_000 for b in bodies)
    assert any(re.search(r"[\u4e00-\u9fff]", b) for b in bodies)  # Chinese
    assert any(re.search(r"[\u0600-\u06ff]", b) for b in bodies)  # Arabic
    assert any(re.search(r"[\U0001F300-\U0001FAFF]", b) for b in bodies)  # emoji
    assert any("retour" in b or "return" in b for b in bodies)
