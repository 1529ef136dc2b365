"""Contract tests of the Canada Post sandbox's Developer Portal flavour (OAuth 2 + JSON), over HTTP.

The portal shares state with the XML gateway: a shipment created through one is found, voided or
refunded through the other, under the same rules.
"""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
import requests
from pypdf import PdfReader

from sandbox.canadapost import CanadaPostService
from sandbox.canadapost.wire import MT_PDF, MT_SHIPMENT, MT_ZPL, NS_SHIPMENT
from sandbox.core import SandboxServer
from tests.sandbox._canadapost_helpers import (
    CUSTOMER,
    PASSWORD,
    PORTAL,
    USER,
    PortalClient,
    XmlClient,
    assert_valid,
    links,
    shipment_json,
    shipment_xml,
)


@pytest.fixture
def cp() -> Iterator[tuple[CanadaPostService, SandboxServer]]:
    service = CanadaPostService(
        user=USER, password=PASSWORD, customer_number=CUSTOMER, seed=5, token_lifetime_s=30, tracking_step_s=10
    )
    with SandboxServer(service) as server:
        yield service, server


@pytest.fixture
def portal(cp: tuple[CanadaPostService, SandboxServer]) -> PortalClient:
    client = PortalClient(cp[1].url)
    client.login()
    return client


def _links(obj: dict) -> dict[str, dict]:
    return {link["rel"]: link for link in obj["links"]}


def test_token_by_ibm_headers_or_basic_and_oauth_errors(cp: tuple[CanadaPostService, SandboxServer]) -> None:
    client = PortalClient(cp[1].url)
    resp = client.fetch_token()
    assert resp.status_code == 200
    body = resp.json()
    assert body["token_type"] == "Bearer" and body["scope"] == "merchant" and body["expires_in"] == 30
    assert body["access_token"]
    assert client.fetch_token(basic=True, headers=False).status_code == 200
    assert client.fetch_token(basic=True, headers=True).status_code == 200

    wrong = PortalClient(cp[1].url, client_secret="nope").fetch_token()
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    nothing = PortalClient(cp[1].url).fetch_token(headers=False)
    assert nothing.status_code == 401

    url = cp[1].url + PORTAL + "/cpc-api-native-oauth-provider/oauth2/token"
    creds = {"X-IBM-Client-Id": USER, "X-IBM-Client-Secret": PASSWORD}
    grant = requests.post(url, data={"grant_type": "password", "scope": "merchant"}, headers=creds, timeout=10)
    assert grant.status_code == 400 and grant.json()["error"] == "unsupported_grant_type"
    scope = requests.post(url, data={"grant_type": "client_credentials"}, headers=creds, timeout=10)
    assert scope.status_code == 400 and scope.json()["error"] == "invalid_scope"


def test_bearer_required_and_expired_tokens_get_401_json(
    cp: tuple[CanadaPostService, SandboxServer], portal: PortalClient
) -> None:
    service = cp[0]
    anonymous = PortalClient(cp[1].url)
    missing = anonymous.request("GET", portal.shipments, params={"customerRequestId": "X"})
    assert missing.status_code == 401 and missing.json()["messages"]
    bogus = anonymous.request(
        "GET", portal.shipments, params={"customerRequestId": "X"}, headers={"Authorization": "Bearer not-a-token"}
    )
    assert bogus.status_code == 401

    assert portal.request("GET", portal.shipments, params={"customerRequestId": "X"}).status_code == 200
    service.advance(31)  # token_lifetime_s=30
    stale = portal.request("GET", portal.shipments, params={"customerRequestId": "X"})
    assert stale.status_code == 401
    portal.login()
    assert portal.request("GET", portal.shipments, params={"customerRequestId": "X"}).status_code == 200

    expired = requests.post(cp[1].url + "/__admin/expire_tokens", timeout=10)
    assert expired.status_code == 200 and expired.json()["expired"] >= 1
    assert portal.request("GET", portal.shipments, params={"customerRequestId": "X"}).status_code == 401


def test_json_and_xml_share_one_state(cp: tuple[CanadaPostService, SandboxServer], portal: PortalClient) -> None:
    xml = XmlClient(cp[1].url)
    created = portal.request("POST", portal.shipments, shipment_json("SHARED-J"))
    assert created.status_code == 200, created.text
    info = created.json()
    assert len(info["shipmentId"]) == 18 and info["shipmentStatus"] == "created"
    rels = _links(info)
    assert {"self", "details", "group", "price", "label", "refund"} <= set(rels)
    assert rels["label"]["mediaType"] == MT_PDF
    assert float(info["shipmentPrice"]["dueAmount"]) > 0

    # The JSON-made shipment through the XML gateway...
    (href,) = xml.search(requestId="SHARED-J")
    doc = assert_valid(xml.request("GET", href, MT_SHIPMENT).content)
    assert doc.findtext(f"{{{NS_SHIPMENT}}}tracking-pin") == info["trackingPin"]
    details = assert_valid(xml.request("GET", links(doc)["details"].get("href", ""), MT_SHIPMENT).content)
    assert details.findtext(".//{*}destination/{*}name") == "Amir Patel"
    assert details.findtext(".//{*}option-code") == "SO"

    # ...and an XML-made one through the portal.
    made = xml.create_ok(shipment_xml("SHARED-X"))
    found = portal.request("GET", portal.shipments, params={"customerRequestId": "SHARED-X"})
    assert found.status_code == 200
    (link,) = found.json()["links"]
    assert link["rel"] == "shipment" and link["href"].startswith(cp[1].url + PORTAL + "/shipping/v1/")
    got = portal.request("GET", link["href"]).json()
    assert got["trackingPin"] == made.findtext(f"{{{NS_SHIPMENT}}}tracking-pin")
    json_details = portal.request("GET", _links(got)["details"]["href"]).json()
    assert json_details["customerRequestId"] == "SHARED-X"
    assert json_details["shipmentDetail"]["deliverySpec"]["destination"]["name"] == "Jane Roe"
    assert json_details["shipmentDetail"]["groupId"] == "G1"

    state = cp[0].inspect()
    assert state["shipments_by_flavour"] == {"portal": 1, "xml": 1}
    assert state["shipments_by_customer_request_id"] == {
        "SHARED-J": [info["shipmentId"]],
        "SHARED-X": [made.findtext(f"{{{NS_SHIPMENT}}}shipment-id")],
    }


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda b: b["deliverySpec"]["parcelCharacteristics"].update(wieght=1), "parcelCharacteristics.wieght"),
        (lambda b: b.update({"delivery-spec": b.pop("deliverySpec")}), "delivery-spec"),
        (lambda b: b.update(requestedShippingPoint="K1A 0B1"), "requestedShippingPoint"),
        (lambda b: b["deliverySpec"].pop("settlementInfo"), "deliverySpec"),
    ],
)
def test_json_is_validated_by_the_v8_schema_and_errors_name_the_field(
    cp: tuple[CanadaPostService, SandboxServer], portal: PortalClient, mutate: object, field: str
) -> None:
    body = shipment_json("BAD-J")
    mutate(body)  # type: ignore[operator]
    resp = portal.request("POST", portal.shipments, body)
    assert resp.status_code == 400, resp.text
    descriptions = [m["description"] for m in resp.json()["messages"]]
    assert any(field in d for d in descriptions), descriptions
    if field.endswith(("wieght", "delivery-spec")):
        assert any("mapping problem" in d for d in descriptions)
    assert cp[0].inspect()["shipments"] == 0


def test_portal_requires_json_media_types(portal: PortalClient) -> None:
    xml_accept = portal.request("POST", portal.shipments, shipment_json("MT-1"), accept=MT_SHIPMENT)
    assert xml_accept.status_code == 406
    as_text = portal.request("POST", portal.shipments, None, data=b"{}", headers={"Content-Type": "text/plain"})
    assert as_text.status_code == 415
    not_json = portal.request("POST", portal.shipments, None, data=b"{", headers={"Content-Type": "application/json"})
    assert not_json.status_code == 400 and not_json.json()["messages"]


def test_void_refund_and_transmit_rules_through_json(portal: PortalClient) -> None:
    voidable = portal.request("POST", portal.shipments, shipment_json("PV-1")).json()
    self_href = _links(voidable)["self"]["href"]
    assert portal.request("DELETE", self_href).status_code == 204
    gone = portal.request("DELETE", self_href)
    assert gone.status_code == 404 and gone.json() == {"messages": []}

    kept = portal.request("POST", portal.shipments, shipment_json("PV-2", group_id="PG")).json()
    manifest_body = {
        "groupIds": ["PG"],
        "requestedShippingPoint": "K1A0B1",
        "detailedManifests": True,
        "methodOfPayment": "Account",
        "manifestAddress": {
            "manifestCompany": "Acme Electronics",
            "phoneNumber": "613 555 0100",
            "addressDetails": {
                "addressLine1": "1 Main St",
                "city": "Ottawa",
                "provState": "ON",
                "postalZipCode": "K1A0B1",
            },
        },
    }
    transmitted = portal.request("POST", f"/shipping/v1/{CUSTOMER}/{CUSTOMER}/manifests", manifest_body)
    assert transmitted.status_code == 200, transmitted.text
    (manifest_link,) = transmitted.json()["links"]
    manifest = portal.request("GET", manifest_link["href"]).json()
    assert manifest["poNumber"] and {"self", "details", "artifact", "manifestShipments"} <= set(_links(manifest))

    refused = portal.request("DELETE", _links(kept)["self"]["href"])
    assert refused.status_code == 400 and refused.json()["messages"][0]["code"] == "8064"
    refund_href = _links(kept)["refund"]["href"]
    first = portal.request("POST", refund_href, {"email": "ops@example.com"})
    assert first.status_code == 200 and first.json()["serviceTicketId"]
    second = portal.request("POST", refund_href, {"email": "ops@example.com"})
    assert second.status_code == 409 and second.json()["messages"][0]["code"] == "7292"


def test_portal_artifacts_by_accept_and_not_ready_202() -> None:
    service = CanadaPostService(user=USER, password=PASSWORD, customer_number=CUSTOMER, artifact_not_ready_first=True)
    with SandboxServer(service) as server:
        portal = PortalClient(server.url)
        portal.login()
        info = portal.request("POST", portal.shipments, shipment_json("ART-1", name="Mei Chen", postal="V5K0A1")).json()
        label = _links(info)["label"]["href"]
        not_ready = portal.request("GET", label, accept=MT_PDF)
        assert not_ready.status_code == 202
        assert "retry after at least 1 second" in not_ready.json()["messages"][0]["description"]
        service.advance(1.5)
        pdf = portal.request("GET", label, accept=MT_PDF)
        assert pdf.status_code == 200 and pdf.headers["Content-Type"] == MT_PDF
        text = PdfReader(io.BytesIO(pdf.content)).pages[0].extract_text()
        assert info["trackingPin"] in text and "Mei Chen" in text and "V5K0A1" in text
        zpl = portal.request("GET", label, accept=MT_ZPL)
        assert zpl.status_code == 200 and info["trackingPin"].encode() in zpl.content


def test_portal_tracking_summaries_and_throttling(
    cp: tuple[CanadaPostService, SandboxServer], portal: PortalClient
) -> None:
    service, server = cp
    info = portal.request("POST", portal.shipments, shipment_json("TRK-1", group_id=None)).json()
    path = f"/tracking/v1/pins/{info['trackingPin']}/summaries"
    early = portal.request("GET", path)
    assert early.status_code == 404 and early.json()["messages"][0]["code"] == "004"
    service.advance(25)  # transmit-shipment: no manifest, scans start from creation (step 10 s)
    portal.login()  # the 30 s token is still valid; a fresh one keeps the test independent of timing
    summary = portal.request("GET", path)
    assert summary.status_code == 200
    (pin_summary,) = summary.json()["pinSummaries"]
    assert pin_summary["pin"] == info["trackingPin"] and pin_summary["eventType"] == "INTRANSIT"

    server.limiter.configure(limits={"E": 1})
    assert portal.request("GET", path).status_code == 200
    throttled = portal.request("GET", path)
    assert throttled.status_code == 503
    assert throttled.json() == {"messages": [{"code": "Server", "description": "Rejected by SLM Monitor"}]}

    server.faults.set("create_shipment", {"error_rate": 1, "error_statuses": [500], "count": 1})
    failed = portal.request("POST", portal.shipments, shipment_json("TRK-2"))
    assert failed.status_code == 500 and failed.json()["messages"][0]["code"] == "Server"
