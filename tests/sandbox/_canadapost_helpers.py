"""Shared pieces of the Canada Post sandbox tests: request documents and thin HTTP clients.

The clients speak the wire formats exactly as a hook would (Basic auth + versioned XML media
types; OAuth token + JSON), over real HTTP to a :class:`sandbox.core.SandboxServer`.
"""

from __future__ import annotations

import base64
from typing import Any

import requests
from lxml import etree

from sandbox.canadapost.wire import (
    MT_MANIFEST,
    MT_NCSHIPMENT,
    MT_SHIPMENT,
    NS_MANIFEST,
    NS_MESSAGES,
    NS_NCSHIPMENT,
    NS_SHIPMENT,
    schema,
)

USER = "cp-test-user"
PASSWORD = "cp-test-password"
CUSTOMER = "2004381"
CONTRACT = "42708517"
PORTAL = "/prod/devportal-portaildesdeveloppeurs"
TIMEOUT = 10.0


def E(ns: str, name: str, *children: Any, text: str | None = None) -> etree._Element:
    el = etree.Element(f"{{{ns}}}{name}", nsmap={None: ns})
    if text is not None:
        el.text = text
    for child in children:
        el.append(child)
    return el


def _addr(ns: str, fields: dict[str, str]) -> etree._Element:
    return E(ns, "address-details", *(E(ns, k, text=v) for k, v in fields.items()))


def shipment_xml(
    crid: str | None = "ORDER-1-1",
    *,
    group_id: str | None = "G1",
    name: str = "Jane Roe",
    postal: str = "M5V3L9",
    province: str = "ON",
    contract_id: str | None = CONTRACT,
    pricing: bool = True,
    extra: etree._Element | None = None,
) -> bytes:
    ns = NS_SHIPMENT
    root = E(ns, "shipment")
    if crid is not None:
        root.append(E(ns, "customer-request-id", text=crid))
    root.append(E(ns, "group-id", text=group_id) if group_id else E(ns, "transmit-shipment", text="true"))
    root.append(E(ns, "requested-shipping-point", text="K1A0B1"))
    if pricing:
        root.append(E(ns, "provide-pricing-info", text="true"))
    settlement = E(ns, "settlement-info")
    if contract_id:
        settlement.append(E(ns, "contract-id", text=contract_id))
    settlement.append(E(ns, "intended-method-of-payment", text="Account"))
    spec = E(
        ns,
        "delivery-spec",
        E(ns, "service-code", text="DOM.EP"),
        E(
            ns,
            "sender",
            E(ns, "company", text="Acme Electronics"),
            E(ns, "contact-phone", text="613 555 0100"),
            _addr(
                ns,
                {
                    "address-line-1": "1 Main St",
                    "city": "Ottawa",
                    "prov-state": "ON",
                    "country-code": "CA",
                    "postal-zip-code": "K1A0B1",
                },
            ),
        ),
        E(
            ns,
            "destination",
            E(ns, "name", text=name),
            _addr(
                ns,
                {
                    "address-line-1": "200 King St W",
                    "city": "Toronto",
                    "prov-state": province,
                    "country-code": "CA",
                    "postal-zip-code": postal,
                },
            ),
        ),
        E(ns, "parcel-characteristics", E(ns, "weight", text="1.25")),
        E(ns, "print-preferences", E(ns, "output-format", text="4x6"), E(ns, "encoding", text="PDF")),
        E(ns, "preferences", E(ns, "show-packing-instructions", text="false")),
        E(ns, "references", E(ns, "customer-ref-1", text=crid or "REF")),
        settlement,
    )
    root.append(spec)
    if extra is not None:
        root.append(extra)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def nc_shipment_xml(*, name: str = "Luc Tremblay", postal: str = "H2X1Y4") -> bytes:
    ns = NS_NCSHIPMENT
    root = E(
        ns,
        "non-contract-shipment",
        E(ns, "requested-shipping-point", text="K1A0B1"),
        E(
            ns,
            "delivery-spec",
            E(ns, "service-code", text="DOM.RP"),
            E(
                ns,
                "sender",
                E(ns, "company", text="Acme Electronics"),
                E(ns, "contact-phone", text="613 555 0100"),
                _addr(
                    ns,
                    {"address-line-1": "1 Main St", "city": "Ottawa", "prov-state": "ON", "postal-zip-code": "K1A0B1"},
                ),
            ),
            E(
                ns,
                "destination",
                E(ns, "name", text=name),
                _addr(
                    ns,
                    {
                        "address-line-1": "5 Rue Sainte-Catherine",
                        "city": "Montreal",
                        "prov-state": "QC",
                        "country-code": "CA",
                        "postal-zip-code": postal,
                    },
                ),
            ),
            E(ns, "parcel-characteristics", E(ns, "weight", text="0.8")),
            E(ns, "preferences", E(ns, "show-packing-instructions", text="false")),
        ),
    )
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def refund_xml(ns: str = NS_SHIPMENT, root: str = "shipment-refund-request") -> bytes:
    return etree.tostring(E(ns, root, E(ns, "email", text="ops@example.com")), encoding="UTF-8")


def transmit_xml(*group_ids: str) -> bytes:
    ns = NS_MANIFEST
    root = E(
        ns,
        "transmit-set",
        E(ns, "group-ids", *(E(ns, "group-id", text=g) for g in group_ids)),
        E(ns, "requested-shipping-point", text="K1A0B1"),
        E(ns, "detailed-manifests", text="true"),
        E(ns, "method-of-payment", text="Account"),
        E(
            ns,
            "manifest-address",
            E(ns, "manifest-company", text="Acme Electronics"),
            E(ns, "phone-number", text="613 555 0100"),
            _addr(
                ns, {"address-line-1": "1 Main St", "city": "Ottawa", "prov-state": "ON", "postal-zip-code": "K1A0B1"}
            ),
        ),
    )
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def shipment_json(
    crid: str = "ORDER-J-1", *, group_id: str | None = "GJ", name: str = "Amir Patel", postal: str = "V6B1A1"
) -> dict:
    body: dict[str, Any] = {
        "customerRequestId": crid,
        "requestedShippingPoint": "K1A0B1",
        "providePricingInfo": True,
        "deliverySpec": {
            "serviceCode": "DOM.EP",
            "sender": {
                "company": "Acme Electronics",
                "contactPhone": "613 555 0100",
                "addressDetails": {
                    "addressLine1": "1 Main St",
                    "city": "Ottawa",
                    "provState": "ON",
                    "countryCode": "CA",
                    "postalZipCode": "K1A0B1",
                },
            },
            "destination": {
                "name": name,
                "addressDetails": {
                    "addressLine1": "800 Robson St",
                    "city": "Vancouver",
                    "provState": "BC",
                    "countryCode": "CA",
                    "postalZipCode": postal,
                },
            },
            "options": [{"optionCode": "SO"}],
            "parcelCharacteristics": {"weight": 2.5, "dimensions": {"length": 30, "width": 20, "height": 10.5}},
            "preferences": {"showPackingInstructions": False},
            "references": {"customerRef1": crid},
            "settlementInfo": {"contractId": CONTRACT, "intendedMethodOfPayment": "Account"},
        },
    }
    if group_id:
        body["groupId"] = group_id
    else:
        body["transmitShipment"] = True
    return body


def assert_valid(content: bytes) -> etree._Element:
    """Parse a response body and validate it against the official XSD of its namespace."""
    doc = etree.fromstring(content)
    ns = etree.QName(doc).namespace
    assert ns is not None, content[:200]
    schema(ns).assertValid(doc)
    return doc


def messages(content: bytes) -> list[tuple[str, str]]:
    doc = assert_valid(content)
    assert doc.tag == f"{{{NS_MESSAGES}}}messages"
    return [
        (m.findtext(f"{{{NS_MESSAGES}}}code") or "", m.findtext(f"{{{NS_MESSAGES}}}description") or "")
        for m in doc.findall(f"{{{NS_MESSAGES}}}message")
    ]


def links(doc: etree._Element) -> dict[str, etree._Element]:
    return {el.get("rel"): el for el in doc.iter("{*}link")}


class XmlClient:
    """The legacy gateway as a hook sees it: Basic auth, exact versioned media types."""

    def __init__(self, url: str, user: str = USER, password: str = PASSWORD, customer: str = CUSTOMER) -> None:
        self.url = url
        self.customer = customer
        self.session = requests.Session()
        self.session.auth = (user, password)

    def request(
        self, method: str, path_or_url: str, media_type: str, body: bytes | None = None, **kwargs: Any
    ) -> requests.Response:
        url = path_or_url if path_or_url.startswith("http") else self.url + path_or_url
        headers = {"Accept": media_type, **kwargs.pop("headers", {})}
        if body is not None:
            headers.setdefault("Content-Type", media_type)
        return self.session.request(method, url, data=body, headers=headers, timeout=TIMEOUT, **kwargs)

    @property
    def base(self) -> str:
        return f"/rs/{self.customer}/{self.customer}"

    def create(self, body: bytes) -> requests.Response:
        return self.request("POST", f"{self.base}/shipment", MT_SHIPMENT, body)

    def create_ok(self, body: bytes) -> etree._Element:
        resp = self.create(body)
        assert resp.status_code == 200, resp.text
        assert resp.headers["Content-Type"] == MT_SHIPMENT
        return assert_valid(resp.content)

    def search(self, **params: str) -> list[str]:
        resp = self.request("GET", f"{self.base}/shipment", MT_SHIPMENT, params=params)
        assert resp.status_code == 200, resp.text
        doc = assert_valid(resp.content)
        return [el.get("href") for el in doc.iter("{*}link")]

    def create_nc(self, body: bytes) -> requests.Response:
        return self.request("POST", f"/rs/{self.customer}/ncshipment", MT_NCSHIPMENT, body)

    def transmit(self, *groups: str) -> requests.Response:
        return self.request("POST", f"{self.base}/manifest", MT_MANIFEST, transmit_xml(*groups))


class PortalClient:
    """The Developer Portal as a hook sees it: OAuth client credentials, JSON."""

    def __init__(
        self, url: str, client_id: str = USER, client_secret: str = PASSWORD, customer: str = CUSTOMER
    ) -> None:
        self.root = url + PORTAL
        self.customer = customer
        self.client_id = client_id
        self.client_secret = client_secret
        self.session = requests.Session()
        self.token: str | None = None

    def fetch_token(self, *, basic: bool = False, headers: bool = True) -> requests.Response:
        h = {"Accept": "application/json"}
        if headers:
            h.update({"X-IBM-Client-Id": self.client_id, "X-IBM-Client-Secret": self.client_secret})
        if basic:
            h["Authorization"] = "Basic " + base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        return self.session.post(
            self.root + "/cpc-api-native-oauth-provider/oauth2/token",
            data={"grant_type": "client_credentials", "scope": "merchant"},
            headers=h,
            timeout=TIMEOUT,
        )

    def login(self) -> None:
        resp = self.fetch_token()
        assert resp.status_code == 200, resp.text
        self.token = resp.json()["access_token"]

    def request(
        self, method: str, path_or_url: str, payload: Any = None, accept: str = "application/json", **kwargs: Any
    ) -> requests.Response:
        url = path_or_url if path_or_url.startswith("http") else self.root + path_or_url
        headers = {"Accept": accept, **kwargs.pop("headers", {})}
        if self.token and "Authorization" not in headers:
            headers["Authorization"] = f"Bearer {self.token}"
        return self.session.request(method, url, json=payload, headers=headers, timeout=TIMEOUT, **kwargs)

    @property
    def shipments(self) -> str:
        return f"/shipping/v1/{self.customer}/{self.customer}/shipments"
