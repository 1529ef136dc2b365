"""Plausible Canada Post prices: base by service, weight and distance, fuel surcharge, taxes.

Not Canada Post's tariff (that needs the contract and the rating API): the numbers only need to be
realistic in size and shape (base + options + FUELSC adjustment, GST/PST/HST by province), stable
for one request, and valid against ``ShipmentPriceType`` so the hook can record what a label cost.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")

# (base for the first kg, per additional kg, business days in zone 1, guaranteed)
SERVICES: dict[str, tuple[Decimal, Decimal, int, bool]] = {
    "DOM.RP": (Decimal("11.40"), Decimal("1.95"), 2, False),
    "DOM.EP": (Decimal("12.85"), Decimal("2.35"), 1, True),
    "DOM.XP": (Decimal("17.60"), Decimal("3.70"), 1, True),
    "DOM.XP.CERT": (Decimal("19.10"), Decimal("3.70"), 1, True),
    "DOM.PC": (Decimal("26.20"), Decimal("5.90"), 1, True),
    "DOM.LIB": (Decimal("4.10"), Decimal("0.60"), 3, False),
    "USA.EP": (Decimal("22.30"), Decimal("6.80"), 4, False),
    "USA.TP": (Decimal("19.80"), Decimal("6.10"), 5, False),
    "USA.XP": (Decimal("31.50"), Decimal("8.90"), 2, True),
    "USA.PW.ENV": (Decimal("48.00"), Decimal("0.00"), 1, True),
    "USA.PW.PAK": (Decimal("62.00"), Decimal("0.00"), 1, True),
    "USA.PW.PARCEL": (Decimal("74.00"), Decimal("12.00"), 1, True),
    "USA.SP.AIR": (Decimal("9.60"), Decimal("11.00"), 6, False),
    "INT.XP": (Decimal("58.00"), Decimal("14.50"), 4, True),
    "INT.IP.AIR": (Decimal("41.00"), Decimal("12.00"), 6, False),
    "INT.IP.SURF": (Decimal("29.00"), Decimal("6.00"), 30, False),
    "INT.TP": (Decimal("34.00"), Decimal("9.50"), 10, False),
    "INT.PW.ENV": (Decimal("68.00"), Decimal("0.00"), 2, True),
    "INT.PW.PAK": (Decimal("96.00"), Decimal("0.00"), 2, True),
    "INT.PW.PARCEL": (Decimal("118.00"), Decimal("22.00"), 2, True),
    "INT.SP.AIR": (Decimal("12.50"), Decimal("16.00"), 8, False),
    "INT.SP.SURF": (Decimal("8.90"), Decimal("8.00"), 40, False),
}

SERVICE_NAMES = {
    "DOM.RP": "Regular Parcel",
    "DOM.EP": "Expedited Parcel",
    "DOM.XP": "Xpresspost",
    "DOM.XP.CERT": "Xpresspost Certified",
    "DOM.PC": "Priority",
    "DOM.LIB": "Library Books",
}

OPTION_PRICES = {
    "SO": Decimal("2.75"),
    "PA18": Decimal("3.75"),
    "PA19": Decimal("3.75"),
    "HFP": Decimal("3.25"),
    "DNS": Decimal("0.00"),
    "LAD": Decimal("0.00"),
    "D2PO": Decimal("0.00"),
    "RASE": Decimal("0.00"),
    "RTS": Decimal("0.00"),
    "ABAN": Decimal("0.00"),
}

FUEL_SURCHARGE_RATE = Decimal("0.1875")

# Regions in rough west-to-east order; distance in regions drives the zone factor.
REGION = {
    "BC": 0, "YT": 0, "AB": 1, "NT": 1, "SK": 2, "MB": 3, "NU": 3,
    "ON": 4, "QC": 5, "NB": 6, "NS": 6, "PE": 6, "NL": 7,
}  # fmt: skip
FIRST_LETTER_PROVINCE = {
    "A": "NL", "B": "NS", "C": "PE", "E": "NB", "G": "QC", "H": "QC", "J": "QC", "K": "ON",
    "L": "ON", "M": "ON", "N": "ON", "P": "ON", "R": "MB", "S": "SK", "T": "AB", "V": "BC",
    "X": "NT", "Y": "YT",
}  # fmt: skip

HST = {"ON": Decimal("0.13"), "NB": Decimal("0.15"), "NL": Decimal("0.15"), "PE": Decimal("0.15"),
       "NS": Decimal("0.14")}  # fmt: skip
GST = Decimal("0.05")
QST = Decimal("0.09975")


def money(value: Decimal) -> str:
    return str(value.quantize(CENT, rounding=ROUND_HALF_UP))


def province_of_postal_code(postal_code: str | None) -> str | None:
    if not postal_code:
        return None
    return FIRST_LETTER_PROVINCE.get(postal_code.strip().upper()[:1])


def add_business_days(start: dt.date, days: int) -> dt.date:
    current = start
    while days > 0:
        current += dt.timedelta(days=1)
        if current.weekday() < 5:
            days -= 1
    return current


def quote(
    service_code: str,
    weight_kg: Decimal,
    dimensions_cm: tuple[Decimal, Decimal, Decimal] | None,
    origin_province: str | None,
    destination_country: str,
    destination_province: str | None,
    option_codes: list[tuple[str, Decimal | None]],
    mailing_date: dt.date,
) -> dict:
    """A price in ShipmentPriceType's terms (all amounts as strings with 2 decimals)."""
    base_first, per_kg, days, guaranteed = SERVICES[service_code]
    rated = weight_kg
    if dimensions_cm is not None:
        length, width, height = dimensions_cm
        # Canada Post's volumetric divisor for parcels is 6000 cm^3/kg.
        rated = max(rated, (length * width * height / Decimal(6000)).quantize(Decimal("0.001")))
    rated = max(rated, Decimal("0.001"))
    extra_kg = max(Decimal(0), rated - 1)
    zone_factor = Decimal(1)
    if destination_country.upper() == "CA":
        a = REGION.get(origin_province or "", 4)
        b = REGION.get(destination_province or "", 4)
        distance = abs(a - b)
        zone_factor = Decimal(1) + Decimal("0.12") * distance
        if destination_province in ("YT", "NT", "NU"):
            zone_factor += Decimal("0.8")
        days += distance // 2
    base = (base_first + per_kg * extra_kg) * zone_factor
    base = base.quantize(CENT, rounding=ROUND_HALF_UP)
    priced_options = []
    options_total = Decimal(0)
    for code, amount in option_codes:
        price = OPTION_PRICES.get(code, Decimal("1.50"))
        if code == "COV" and amount is not None:
            # Coverage: first $100 included, then about $2.75 per $100.
            price = max(Decimal(0), (amount - 100) / 100) * Decimal("2.75")
        if code == "COD":
            price = Decimal("5.50")
        price = price.quantize(CENT, rounding=ROUND_HALF_UP)
        priced_options.append({"option-code": code, "option-price": money(price)})
        options_total += price
    fuel = (base * FUEL_SURCHARGE_RATE).quantize(CENT, rounding=ROUND_HALF_UP)
    pre_tax = base + options_total + fuel
    gst = pst = hst = Decimal(0)
    # Postage is taxed where it is supplied; the sandbox uses the destination province (exports
    # are zero-rated), which is what a seller's invoices show for domestic parcels.
    if destination_country.upper() == "CA":
        prov = destination_province or "ON"
        if prov in HST:
            hst = pre_tax * HST[prov]
        else:
            gst = pre_tax * GST
            if prov == "QC":
                pst = pre_tax * QST
    gst, pst, hst = (x.quantize(CENT, rounding=ROUND_HALF_UP) for x in (gst, pst, hst))
    due = pre_tax + gst + pst + hst
    return {
        "service-code": service_code,
        "base-amount": money(base),
        "priced-options": priced_options,
        "adjustments": [{"adjustment-code": "FUELSC", "adjustment-amount": money(fuel)}],
        "pre-tax-amount": money(pre_tax),
        "gst-amount": money(gst),
        "pst-amount": money(pst),
        "hst-amount": money(hst),
        "due-amount": money(due),
        "service-standard": {
            "am-delivery": "false",
            "guaranteed-delivery": "true" if guaranteed else "false",
            "expected-transmit-time": str(days),
            "expected-delivery-date": add_business_days(mailing_date, days).isoformat(),
        },
        "rated-weight": str(rated.quantize(Decimal("0.001"))),
    }
