"""Shipping rules: what goes in the parcel, how heavy and big it is, which Canada Post service ships it.

Pure functions over plain data (order lines, `products` rows, a Mirakl shipping address): no I/O, no
hooks, so the rules are tested without a network and a seller can read them in one sitting.

- Weight: the sum of each line's product weight times its quantity; a SKU missing from `products`
  counts `default_parcel_weight_kg` per unit and is reported, so a wrong catalog is visible in the
  history rather than silently under-paid postage.
- Size: one box holding every unit, estimated by stacking: the longest and second-longest sides are
  the largest among the products, the heights add up. Without every product's dimensions, no size is
  sent (Canada Post then prices by weight only).
- Service: the first rule of the destination ("CA", "US" or "INT") whose weight bound holds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, Decimal
from typing import Any

from orderflow.hooks.canadapost_model import Address

# ISO 3166 alpha-3 (Mirakl's country_iso_code) -> alpha-2 (Canada Post's country-code). Short on
# purpose: a seller on Best Buy Canada ships to Canada, sometimes to the US; anything else is refused
# with a clear reason instead of guessed.
ALPHA3_TO_ALPHA2: dict[str, str] = {
    "CAN": "CA",
    "USA": "US",
    "MEX": "MX",
    "GBR": "GB",
    "FRA": "FR",
    "DEU": "DE",
    "AUS": "AU",
    "JPN": "JP",
}
# Canada Post limits for a domestic parcel (the carrier refuses heavier ones).
MAX_WEIGHT_KG = Decimal("30")


class ShippingRuleError(ValueError):
    """The order cannot be turned into a parcel (no address, unknown country...). `reason` is a code."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


@dataclass(frozen=True)
class ParcelPlan:
    weight_kg: Decimal
    length_cm: Decimal | None = None
    width_cm: Decimal | None = None
    height_cm: Decimal | None = None
    unknown_skus: tuple[str, ...] = field(default_factory=tuple)

    @property
    def dimensions(self) -> dict[str, float] | None:
        if self.length_cm is None or self.width_cm is None or self.height_cm is None:
            return None  # plan_parcel sets the three together or none of them
        return {"length": float(self.length_cm), "width": float(self.width_cm), "height": float(self.height_cm)}


def _ceil(value: float | Decimal, places: int) -> Decimal:
    return Decimal(str(value)).quantize(Decimal(1).scaleb(-places), rounding=ROUND_CEILING)


def _num(value: Any) -> float | None:
    if value is None or value == "":
        return None
    return float(value)


def plan_parcel(
    lines: Sequence[Mapping[str, Any]],
    products: Mapping[str, Mapping[str, Any]],
    *,
    default_unit_weight_kg: float,
) -> ParcelPlan:
    """The single parcel of an order. `lines` carry offer_sku and quantity; `products` is keyed by sku."""
    if not lines:
        raise ShippingRuleError("no_lines", "the order has no lines to ship")
    weight = 0.0
    unknown: list[str] = []
    sides: list[tuple[list[float], int]] = []
    all_dims = True
    for line in lines:
        sku = line.get("offer_sku") or line.get("product_sku")
        quantity = int(line.get("quantity") or 0)
        if quantity <= 0:
            raise ShippingRuleError("bad_quantity", f"line {line.get('order_line_id')} has quantity {quantity}")
        product = products.get(sku) if sku else None
        if product is None:
            unknown.append(str(sku))
            weight += default_unit_weight_kg * quantity
            all_dims = False
            continue
        weight += float(product["weight_kg"]) * quantity
        dims = [_num(product.get("length_cm")), _num(product.get("width_cm")), _num(product.get("height_cm"))]
        known = [d for d in dims if d is not None and d > 0]
        if len(known) < len(dims):
            all_dims = False
        else:
            sides.append((sorted(known, reverse=True), quantity))
    weight_kg = max(_ceil(weight, 3), Decimal("0.001"))
    if not all_dims or not sides:
        return ParcelPlan(weight_kg, unknown_skus=tuple(unknown))
    length = max(s[0][0] for s in sides)
    width = max(s[0][1] for s in sides)
    height = sum(dims[2] * qty for dims, qty in sides)
    return ParcelPlan(
        weight_kg,
        _ceil(math.ceil(length * 10) / 10, 1),
        _ceil(math.ceil(width * 10) / 10, 1),
        _ceil(math.ceil(height * 10) / 10, 1),
        unknown_skus=tuple(unknown),
    )


def destination_zone(country_code: str) -> str:
    if country_code == "CA":
        return "CA"
    if country_code == "US":
        return "US"
    return "INT"


def choose_service_code(
    weight_kg: Decimal | float,
    country_code: str,
    rules: Sequence[Sequence[Any]],
    *,
    default_ca: str,
    default_us: str,
    default_international: str,
) -> str:
    """First rule `[max_weight_kg, code(, zone)]` of the destination's zone whose bound holds."""
    zone = destination_zone(country_code)
    weight = float(weight_kg)
    for rule in rules:
        if len(rule) < 2:
            raise ShippingRuleError("bad_rule", f"service rule {rule!r} needs [max_weight_kg, service_code]")
        rule_zone = str(rule[2]).upper() if len(rule) > 2 else "CA"
        if rule_zone == zone and weight <= float(rule[0]):
            return str(rule[1])
    return {"CA": default_ca, "US": default_us}.get(zone, default_international)


def destination_from_mirakl(address: Mapping[str, Any] | None) -> Address:
    """A Mirakl `customer.shipping_address` as a label destination (raises ShippingRuleError)."""
    if not address:
        raise ShippingRuleError("no_address", "Best Buy has not released a shipping address")
    alpha3 = str(address.get("country_iso_code") or "").upper()
    country = ALPHA3_TO_ALPHA2.get(alpha3) or (alpha3 if len(alpha3) == 2 else None)
    if country is None and str(address.get("country") or "").strip().lower() == "canada":
        country = "CA"
    if country is None:
        raise ShippingRuleError("unsupported_country", f"unsupported destination country {alpha3 or '?'}")
    missing = [k for k in ("street_1", "city", "zip_code") if not str(address.get(k) or "").strip()]
    if country in ("CA", "US") and not str(address.get("state") or "").strip():
        missing.append("state")
    if missing:
        raise ShippingRuleError("incomplete_address", f"shipping address lacks {', '.join(missing)}")
    name = " ".join(p for p in (address.get("firstname"), address.get("lastname")) if p) or None
    postal = str(address["zip_code"]).strip()
    if country == "CA":
        postal = postal.replace(" ", "").replace("-", "").upper()
    return Address(
        name=name,
        address_line_1=str(address["street_1"]).strip(),
        address_line_2=(str(address.get("street_2")).strip() or None) if address.get("street_2") else None,
        city=str(address["city"]).strip(),
        province=str(address.get("state") or "").strip(),
        postal_code=postal,
        country_code=country,
        company=address.get("company") or None,
        phone=address.get("phone") or None,
        additional_address_info=address.get("additional_info") or None,
    )
