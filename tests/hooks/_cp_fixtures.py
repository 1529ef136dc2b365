"""Shared material for the Canada Post hook tests: a seller, a parcel, connections, XSDs and
answer documents in both wire formats (XML gateway and Developer Portal JSON)."""

from __future__ import annotations

import json
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

from lxml import etree

from orderflow.hooks.canadapost_model import Address, Parcel, References, Sender, ShipmentRequest
from orderflow.hooks.canadapost_xml import ShipperSettings

REPO = Path(__file__).resolve().parents[2]
_XSD_DIRS = [REPO / "sandbox" / "canadapost" / "xsd", REPO.parent / "shared" / "reference" / "canadapost-xsd"]

CUSTOMER = "1234567"
CONTRACT_ID = "0042708517"

SENDER_EXTRAS: dict[str, str] = {
    "sender_name": "Shipping Desk",
    "sender_company": "Northern Electronics",
    "sender_phone": "613 555 0100",
    "sender_address_line_1": "100 Bank St",
    "sender_city": "Ottawa",
    "sender_province": "ON",
    "sender_postal_code": "K1P 5N2",
}

SENDER = Sender(
    company="Northern Electronics",
    phone="613 555 0100",
    address_line_1="100 Bank St",
    city="Ottawa",
    province="ON",
    postal_code="K1P5N2",
    name="Shipping Desk",
)


def settings(contract: bool = True, group: str | None = None) -> ShipperSettings:
    return ShipperSettings(
        customer_number=CUSTOMER,
        mobo=CUSTOMER,
        sender=SENDER,
        origin_postal_code="K1P5N2",
        contract_id=CONTRACT_ID if contract else None,
        default_group_id=group,
    )


def shipment_request(crid: str = "252884385-A", **kw: Any) -> ShipmentRequest:
    base: dict[str, Any] = {
        "destination": Address(
            name="Jane Roe",
            address_line_1="290 Bremner Blvd",
            city="Toronto",
            province="ON",
            postal_code="m5v 3l9",
            phone="416 555 0199",
        ),
        "parcel": Parcel(Decimal("1.2"), Decimal("30"), Decimal("20"), Decimal("10")),
        "customer_request_id": crid,
        "references": References(customer_ref_1=crid.split("-")[0]),
    }
    base.update(kw)
    return ShipmentRequest(**base)


def conn_json(
    url: str,
    *,
    api: str,
    contract: bool = True,
    login: str = "apiuser",
    password: str = "s3cret-pass",  # noqa: S107 (a test credential)
    **extras: Any,
) -> str:
    """An ``AIRFLOW_CONN_CANADAPOST_DEFAULT`` value (JSON form) for a server at ``url``."""
    extra: dict[str, Any] = {"api": api, "customer_number": CUSTOMER, **SENDER_EXTRAS}
    if contract:
        extra["contract_id"] = CONTRACT_ID
    extra.update(extras)
    return json.dumps(
        {"conn_type": "canadapost", "host": url, "login": login, "password": password, "extra": extra}
    )


@cache
def xsd(name: str) -> etree.XMLSchema:
    for folder in _XSD_DIRS:
        if (folder / name).exists():
            return etree.XMLSchema(etree.parse(str(folder / name)))
    raise FileNotFoundError(name)


def assert_valid(body: bytes, xsd_name: str) -> etree._Element:
    doc = etree.fromstring(body)
    schema = xsd(xsd_name)
    assert schema.validate(doc), str(schema.error_log)
    return doc


# --------------------------------------------------------------------------------------------
# answers
# --------------------------------------------------------------------------------------------

NS8 = "http://www.canadapost.ca/ws/shipment-v8"
NS_NC = "http://www.canadapost.ca/ws/ncshipment-v4"


def shipment_info_xml(
    base: str,
    shipment_id: str = "340531309186521749",
    pin: str = "1234567890123456",
    crid: str | None = "252884385-A",
    contract: bool = True,
) -> bytes:
    ns = NS8 if contract else NS_NC
    root_name = "shipment-info" if contract else "non-contract-shipment-info"
    path = f"/rs/{CUSTOMER}/{CUSTOMER}/shipment" if contract else f"/rs/{CUSTOMER}/ncshipment"
    status = "<shipment-status>created</shipment-status>" if contract else ""
    crid_el = f"<customer-request-id>{crid}</customer-request-id>" if crid and contract else ""
    price = (
        "<shipment-price><service-code>DOM.EP</service-code><base-amount>10.00</base-amount>"
        "<pre-tax-amount>10.50</pre-tax-amount><gst-amount>0.00</gst-amount><pst-amount>0.00</pst-amount>"
        "<hst-amount>1.37</hst-amount><due-amount>11.87</due-amount><service-standard>"
        "<am-delivery>false</am-delivery><guaranteed-delivery>true</guaranteed-delivery></service-standard>"
        "<rated-weight>1.200</rated-weight></shipment-price>"
        if contract
        else ""
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><{root_name} xmlns="{ns}">{crid_el}'
        f"<shipment-id>{shipment_id}</shipment-id>{status}<tracking-pin>{pin}</tracking-pin>{price}<links>"
        f'<link rel="self" href="{base}{path}/{shipment_id}" media-type="application/vnd.cpc.shipment-v8+xml"/>'
        f'<link rel="details" href="{base}{path}/{shipment_id}/details" '
        'media-type="application/vnd.cpc.shipment-v8+xml"/>'
        f'<link rel="label" href="{base}/rs/artifact/6e93d53968881714/10001782951/0" '
        'media-type="application/pdf" index="0"/>'
        f'<link rel="refund" href="{base}{path}/{shipment_id}/refund" '
        'media-type="application/vnd.cpc.shipment-v8+xml"/>'
        f"</links></{root_name}>"
    ).encode()


def shipment_info_json(base: str, shipment_id: str = "340531309186521749", pin: str = "1234567890123456",
                       crid: str | None = "252884385-A") -> dict[str, Any]:
    path = f"{base}/prod/devportal-portaildesdeveloppeurs/shipping/v1/{CUSTOMER}/{CUSTOMER}/shipments"
    out: dict[str, Any] = {
        "shipmentId": shipment_id,
        "shipmentStatus": "created",
        "trackingPin": pin,
        "shipmentPrice": {"dueAmount": 11.87, "baseAmount": 10.0},
        "links": [
            {"rel": "self", "href": f"{path}/{shipment_id}", "mediaType": "application/json"},
            {"rel": "details", "href": f"{path}/{shipment_id}/details", "mediaType": "application/json"},
            {"rel": "label", "href": f"{base}/prod/devportal-portaildesdeveloppeurs/shipping/v1/artifacts/ab/1/0",
             "mediaType": "application/pdf", "index": 0},
        ],
    }
    if crid:
        out["customerRequestId"] = crid
    return out


def shipments_list_xml(hrefs: list[str], nc: bool = False) -> bytes:
    root = "non-contract-shipments" if nc else "shipments"
    ns = NS_NC if nc else NS8
    links = "".join(
        f'<link rel="shipment" href="{h}" media-type="application/vnd.cpc.shipment-v8+xml"/>' for h in hrefs
    )
    return f'<{root} xmlns="{ns}">{links}</{root}>'.encode()


def nc_details_xml(refs: tuple[str | None, str | None]) -> bytes:
    r1 = f"<customer-ref-1>{refs[0]}</customer-ref-1>" if refs[0] else ""
    r2 = f"<customer-ref-2>{refs[1]}</customer-ref-2>" if refs[1] else ""
    return (
        f'<non-contract-shipment-details xmlns="{NS_NC}"><final-shipping-point>K1P5N2</final-shipping-point>'
        "<tracking-pin>1234567890123456</tracking-pin><delivery-spec><service-code>DOM.EP</service-code>"
        "<sender><company>X</company><contact-phone>1</contact-phone><address-details>"
        "<address-line-1>1</address-line-1><city>O</city><prov-state>ON</prov-state>"
        "<postal-zip-code>K1P5N2</postal-zip-code></address-details></sender><destination><address-details>"
        "<country-code>CA</country-code></address-details></destination>"
        "<parcel-characteristics><weight>1.000</weight></parcel-characteristics>"
        "<preferences><show-packing-instructions>false</show-packing-instructions></preferences>"
        f"<references>{r1}{r2}</references></delivery-spec></non-contract-shipment-details>"
    ).encode()


def messages_xml(*pairs: tuple[str, str]) -> bytes:
    inner = "".join(f"<message><code>{c}</code><description>{d}</description></message>" for c, d in pairs)
    return f'<messages xmlns="http://www.canadapost.ca/ws/messages">{inner}</messages>'.encode()


def messages_json(*pairs: tuple[str, str]) -> dict[str, Any]:
    return {"messages": [{"code": c, "description": d} for c, d in pairs]}


TRACKING_XML = (
    b'<tracking-summary xmlns="http://www.canadapost.ca/ws/track"><pin-summary><pin>1234567890123456</pin>'
    b"<origin-postal-id>K1P5N2</origin-postal-id><destination-postal-id>M5V3L9</destination-postal-id>"
    b"<destination-province>ON</destination-province><service-name>Expedited Parcels</service-name>"
    b"<mailed-on-date>2026-11-20</mailed-on-date><expected-delivery-date>2026-11-22</expected-delivery-date>"
    b"<actual-delivery-date>2026-11-22</actual-delivery-date><delivery-option-completed-ind>0"
    b"</delivery-option-completed-ind><event-date-time>20261122:143000</event-date-time>"
    b"<event-description>Delivered</event-description><attempted-date></attempted-date>"
    b"<customer-ref-1>252884385</customer-ref-1><customer-ref-2></customer-ref-2><return-pin></return-pin>"
    b"<event-type>DELIVERED</event-type><event-location>TORONTO</event-location>"
    b"<signatory-name></signatory-name></pin-summary></tracking-summary>"
)

PDF_BYTES = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
