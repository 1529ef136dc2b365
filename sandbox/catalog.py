"""The demo seller's electronics catalog.

Plain data on purpose: the sandbox's order generator draws SKUs from it, and the demo's DB seed
(``python -m sandbox seed-catalog``) writes :data:`PRODUCTS` to a catalog file (:func:`write_catalog`)
that orderflow's ``seed-catalog --file`` loads into ``products`` / ``product_components`` (keys match
those tables' columns: ``sku, name, weight_kg, length_cm, width_cm, height_cm`` and per component
``barcode, name, quantity``). A product's components are what a packer scans: a bundle is
several boxes (laptop + charger + mouse), a multi-pack is one barcode with a quantity > 1.

Barcodes are EAN-13 with valid check digits (UPC-A codes are EAN-13 with a leading 0), so a
packer's scanner and any check-digit validation accept them.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def ean13(first12: str) -> str:
    """The 13-digit EAN for 12 digits, check digit computed (GS1 mod-10, weights 1/3)."""
    if len(first12) != 12 or not first12.isdigit():
        raise ValueError(f"need 12 digits, got {first12!r}")
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(first12))
    return first12 + str((10 - total % 10) % 10)


def is_valid_ean13(code: str) -> bool:
    return len(code) == 13 and code.isdigit() and ean13(code[:12]) == code


# Component barcodes, by a short key used below. Prefix 0 = UPC-A style (US/Canada GS1 prefixes
# 0xx), 6xx/8xx = other GS1 member prefixes, as real electronics boxes carry.
_BARCODES: dict[str, tuple[str, str]] = {
    "laptop14": (ean13("019543210011"), "Aurora 14 laptop, 16 GB / 512 GB"),
    "laptop16": (ean13("019543210028"), "Aurora 16 Pro laptop, 32 GB / 1 TB"),
    "charger65": (ean13("019543210035"), "65 W USB-C charger"),
    "charger140": (ean13("019543210042"), "140 W USB-C charger"),
    "mouse": (ean13("019543210059"), "Wireless optical mouse"),
    "sleeve14": (ean13("019543210066"), "14-inch laptop sleeve"),
    "headphones": (ean13("064412345018"), "Noise-cancelling over-ear headphones"),
    "earbuds": (ean13("064412345025"), "True wireless earbuds"),
    "speaker": (ean13("064412345032"), "Portable Bluetooth speaker"),
    "tv55": (ean13("880609112233"), "55-inch 4K LED TV"),
    "tvstand55": (ean13("880609112240"), "TV stand legs (pair), 55-inch"),
    "soundbar": (ean13("880609112257"), "2.1 channel soundbar"),
    "subwoofer": (ean13("880609112264"), "Wireless subwoofer"),
    "monitor27": (ean13("088888123456"), "27-inch QHD monitor"),
    "hdmi2m": (ean13("088888123463"), "HDMI 2.1 cable, 2 m"),
    "keyboard": (ean13("088888123470"), "Mechanical keyboard"),
    "webcam": (ean13("088888123487"), "1080p webcam"),
    "tablet11": (ean13("019543220010"), "11-inch tablet, 128 GB"),
    "stylus": (ean13("019543220027"), "Active stylus pen"),
    "tabletcase": (ean13("019543220034"), "Tablet folio case"),
    "phone": (ean13("019543230019"), "Smartphone 6.1-inch, 256 GB"),
    "phonecase": (ean13("019543230026"), "Smartphone clear case"),
    "usbc1m": (ean13("019543230033"), "USB-C to USB-C cable, 1 m"),
    "powerbank": (ean13("069000111224"), "20 000 mAh power bank"),
    "sdcard128": (ean13("069000111231"), "microSD card 128 GB"),
    "router": (ean13("069000111248"), "Wi-Fi 6 mesh router"),
    "meshnode": (ean13("069000111255"), "Wi-Fi 6 mesh satellite node"),
    "smartwatch": (ean13("069000111262"), "Smartwatch 44 mm"),
    "watchband": (ean13("069000111279"), "Smartwatch sport band"),
    "gamepad": (ean13("045496123453"), "Wireless game controller"),
    "console": (ean13("045496123460"), "Game console 1 TB"),
    "ssd1tb": (ean13("045496123477"), "Portable SSD 1 TB"),
    "aabatt": (ean13("041333000046"), "AA alkaline batteries, 4-pack"),
}


def _components(*items: tuple[str, int]) -> list[dict[str, Any]]:
    return [
        {"barcode": _BARCODES[key][0], "name": _BARCODES[key][1], "quantity": quantity}
        for key, quantity in items
    ]


def _product(
    sku: str,
    name: str,
    price: float,
    weight_kg: float,
    dims_cm: tuple[float, float, float],
    category: tuple[str, str],
    components: list[dict[str, Any]],
    product_sku: str,
) -> dict[str, Any]:
    length, width, height = dims_cm
    return {
        "sku": sku,  # our offer SKU (Mirakl offer_sku / product_shop_sku)
        "name": name,
        "weight_kg": weight_kg,
        "length_cm": length,
        "width_cm": width,
        "height_cm": height,
        "price": price,  # CAD, tax excluded
        "product_sku": product_sku,  # Best Buy's catalog SKU (Mirakl product_sku)
        "category_code": category[0],
        "category_label": category[1],
        "components": components,
    }


_LAPTOPS = ("20010", "Laptops")
_AUDIO = ("20020", "Headphones & Speakers")
_TV = ("20030", "Televisions")
_COMPUTING = ("20040", "Monitors & Accessories")
_TABLETS = ("20050", "Tablets")
_PHONES = ("20060", "Cell Phones & Accessories")
_NETWORK = ("20070", "Networking")
_WEARABLES = ("20080", "Wearables")
_GAMING = ("20090", "Video Games")
_STORAGE = ("20100", "Storage & Power")

PRODUCTS: list[dict[str, Any]] = [
    _product("LAP-AUR14-BNDL", "Aurora 14 Laptop Bundle (laptop, 65 W charger, mouse)", 1199.99, 2.6,
             (42.0, 30.0, 9.0), _LAPTOPS,
             _components(("laptop14", 1), ("charger65", 1), ("mouse", 1)), "16830010"),
    _product("LAP-AUR14", "Aurora 14 Laptop 16 GB / 512 GB", 1049.99, 2.1, (38.0, 27.0, 7.0), _LAPTOPS,
             _components(("laptop14", 1), ("charger65", 1)), "16830011"),
    _product("LAP-AUR16-PRO", "Aurora 16 Pro Laptop 32 GB / 1 TB with sleeve", 2399.99, 3.4,
             (45.0, 33.0, 10.0), _LAPTOPS,
             _components(("laptop16", 1), ("charger140", 1), ("sleeve14", 1)), "16830012"),
    _product("AUD-NCH-700", "Noise-Cancelling Over-Ear Headphones", 379.99, 0.9, (24.0, 21.0, 9.0), _AUDIO,
             _components(("headphones", 1)), "16830020"),
    _product("AUD-TWS-200", "True Wireless Earbuds", 149.99, 0.25, (12.0, 10.0, 5.0), _AUDIO,
             _components(("earbuds", 1)), "16830021"),
    _product("AUD-SPK-GO", "Portable Bluetooth Speaker", 129.99, 0.8, (22.0, 12.0, 12.0), _AUDIO,
             _components(("speaker", 1)), "16830022"),
    _product("AUD-SPK-GO-2PK", "Portable Bluetooth Speaker, Stereo 2-Pack", 239.99, 1.6,
             (24.0, 24.0, 13.0), _AUDIO, _components(("speaker", 2)), "16830023"),
    _product("TV-55-4K", "55\" 4K UHD Smart LED TV", 649.99, 17.5, (136.0, 85.0, 15.0), _TV,
             _components(("tv55", 1), ("tvstand55", 1)), "16830030"),
    _product("TV-SNDBAR-21", "2.1 Channel Soundbar with Wireless Subwoofer", 299.99, 8.2,
             (98.0, 45.0, 30.0), _TV, _components(("soundbar", 1), ("subwoofer", 1)), "16830031"),
    _product("MON-27-QHD", "27\" QHD IPS Monitor with HDMI cable", 379.99, 6.8, (70.0, 48.0, 16.0),
             _COMPUTING, _components(("monitor27", 1), ("hdmi2m", 1)), "16830040"),
    _product("PC-DESK-KIT", "Desk Kit: Mechanical Keyboard, Mouse and Webcam", 229.99, 1.9,
             (48.0, 20.0, 10.0), _COMPUTING,
             _components(("keyboard", 1), ("mouse", 1), ("webcam", 1)), "16830041"),
    _product("CBL-HDMI-2M-3PK", "HDMI 2.1 Cable 2 m, 3-Pack", 44.99, 0.45, (20.0, 15.0, 6.0), _COMPUTING,
             _components(("hdmi2m", 3)), "16830042"),
    _product("TAB-11-BNDL", "11\" Tablet 128 GB with Stylus and Folio Case", 749.99, 1.1,
             (30.0, 22.0, 6.0), _TABLETS,
             _components(("tablet11", 1), ("stylus", 1), ("tabletcase", 1)), "16830050"),
    _product("PHN-61-256", "Smartphone 6.1\" 256 GB, Unlocked", 1099.99, 0.45, (18.0, 10.0, 6.0), _PHONES,
             _components(("phone", 1), ("usbc1m", 1)), "16830060"),
    _product("PHN-ACC-KIT", "Smartphone Essentials: Clear Case and Power Bank", 79.99, 0.55,
             (20.0, 12.0, 5.0), _PHONES, _components(("phonecase", 1), ("powerbank", 1)), "16830061"),
    _product("NET-MESH-3PK", "Wi-Fi 6 Mesh System, 3-Pack", 449.99, 2.3, (35.0, 25.0, 14.0), _NETWORK,
             _components(("router", 1), ("meshnode", 2)), "16830070"),
    _product("WRB-WATCH-44", "Smartwatch 44 mm with Extra Sport Band", 429.99, 0.4, (15.0, 10.0, 8.0),
             _WEARABLES, _components(("smartwatch", 1), ("watchband", 1)), "16830080"),
    _product("GAM-CONSOLE-1TB", "Game Console 1 TB with Two Controllers", 649.99, 5.1, (48.0, 36.0, 14.0),
             _GAMING, _components(("console", 1), ("gamepad", 2)), "16830090"),
    _product("GAM-PAD", "Wireless Game Controller", 79.99, 0.35, (17.0, 12.0, 7.0), _GAMING,
             _components(("gamepad", 1), ("aabatt", 1)), "16830091"),
    _product("STO-SSD-1TB", "Portable SSD 1 TB", 139.99, 0.12, (12.0, 8.0, 3.0), _STORAGE,
             _components(("ssd1tb", 1)), "16830100"),
    _product("STO-SD-128-2PK", "microSD Card 128 GB, 2-Pack", 39.99, 0.05, (12.0, 9.0, 1.0), _STORAGE,
             _components(("sdcard128", 2)), "16830101"),
]

PRODUCTS_BY_SKU: dict[str, dict[str, Any]] = {product["sku"]: product for product in PRODUCTS}

# Every distinct scannable code with its description (a packing station's lookup table).
BARCODES: dict[str, str] = dict(_BARCODES.values())


def write_catalog(path: str | os.PathLike[str]) -> Path:
    """Write :data:`PRODUCTS` as the JSON catalog file ``orderflow seed-catalog --file`` reads.

    Written to a temporary file beside it and renamed, so a reader (compose's airflow-init) never
    sees half a catalog."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=target.name + ".", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(PRODUCTS, fh, ensure_ascii=False, indent=1)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the catalog is no secret and others read it
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
