"""The pure shipping rules (parcel, service code, destination) and the label store, no network."""

from __future__ import annotations

import hashlib
from decimal import Decimal
from pathlib import Path

import pytest

from orderflow.label_store import label_location, label_matches, write_label
from orderflow.shipping_rules import (
    ShippingRuleError,
    choose_service_code,
    destination_from_mirakl,
    plan_parcel,
)

PRODUCTS = {
    "LAP": {"weight_kg": Decimal("2.1"), "length_cm": 38, "width_cm": 27, "height_cm": 7},
    "BUDS": {"weight_kg": Decimal("0.25"), "length_cm": 12, "width_cm": 10, "height_cm": 5},
    "NODIMS": {"weight_kg": Decimal("1.0"), "length_cm": None, "width_cm": None, "height_cm": None},
}
RULES = [[2.0, "DOM.EP"], [30.0, "DOM.RP"], [5.0, "USA.EP", "US"]]


def test_parcel_weight_and_stacked_box() -> None:
    plan = plan_parcel([{"offer_sku": "LAP", "quantity": 1}, {"offer_sku": "BUDS", "quantity": 2}], PRODUCTS,
                       default_unit_weight_kg=1.0)
    assert plan.weight_kg == Decimal("2.600")
    assert (plan.length_cm, plan.width_cm, plan.height_cm) == (Decimal("38.0"), Decimal("27.0"), Decimal("17.0"))
    assert plan.unknown_skus == ()


def test_unknown_sku_uses_the_default_weight_and_sends_no_size() -> None:
    plan = plan_parcel([{"offer_sku": "GHOST", "quantity": 3}, {"offer_sku": "NODIMS", "quantity": 1}], PRODUCTS,
                       default_unit_weight_kg=0.5)
    assert plan.weight_kg == Decimal("2.500") and plan.length_cm is None and plan.unknown_skus == ("GHOST",)
    with pytest.raises(ShippingRuleError):
        plan_parcel([], PRODUCTS, default_unit_weight_kg=1.0)


@pytest.mark.parametrize(
    ("weight", "country", "expected"),
    [(1.5, "CA", "DOM.EP"), (2.0, "CA", "DOM.EP"), (2.01, "CA", "DOM.RP"), (31, "CA", "DOM.EP"),
     (4.0, "US", "USA.EP"), (9.0, "US", "USA.XP"), (1.0, "FR", "INT.XP")],
)
def test_service_code_rule(weight: float, country: str, expected: str) -> None:
    assert choose_service_code(weight, country, RULES, default_ca="DOM.EP", default_us="USA.XP",
                               default_international="INT.XP") == expected


def test_destination_from_a_mirakl_address() -> None:
    dest = destination_from_mirakl({
        "firstname": "Jane", "lastname": "Roe", "street_1": "1 Main St", "street_2": None, "city": "Toronto",
        "state": "ON", "zip_code": "m5v 3l9", "country_iso_code": "CAN", "phone": "416-555-0000",
    })
    assert (dest.name, dest.postal_code, dest.country_code, dest.address_line_2) == (
        "Jane Roe", "M5V3L9", "CA", None)
    with pytest.raises(ShippingRuleError) as no_address:
        destination_from_mirakl(None)
    assert no_address.value.reason == "no_address"
    with pytest.raises(ShippingRuleError) as bad_country:
        destination_from_mirakl({"street_1": "x", "city": "y", "zip_code": "z", "country_iso_code": "ATA"})
    assert bad_country.value.reason == "unsupported_country"


def test_label_store_writes_atomically_and_checks_its_sha(tmp_path: Path) -> None:
    data = b"%PDF-1.4 label %%EOF"
    stored = write_label(str(tmp_path), "250000001-A", "250000001-A-1", data)
    assert stored.path == str(tmp_path / "250000001-A" / "250000001-A-1.pdf")
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert label_matches(stored.path, stored.sha256) == (True, "ok")
    Path(stored.path).write_bytes(b"tampered")
    assert label_matches(stored.path, stored.sha256)[0] is False
    assert not [p for p in (tmp_path / "250000001-A").iterdir() if p.name.startswith(".label-")]
    with pytest.raises(ValueError):
        label_location(str(tmp_path), "../etc", "x-1")


def test_label_store_through_object_storage(tmp_path: Path) -> None:
    stored = write_label(f"file://{tmp_path}/bucket", "250000002-A", "250000002-A-1", b"%PDF-1.4 x %%EOF")
    assert stored.path.startswith("file://")
    assert (tmp_path / "bucket" / "250000002-A" / "250000002-A-1.pdf").read_bytes().startswith(b"%PDF")
    assert label_matches(stored.path, stored.sha256) == (True, "ok")
