"""Contract tests of the Canada Post sandbox's XML gateway, over real HTTP.

Every response body is validated against the official XSDs; the rules that cost money (void,
refund, transmit) and the crash-recovery look-ups behave as ``canada-post-api.md`` states.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Iterator

import pytest
import requests
from lxml import etree
from pypdf import PdfReader

from sandbox.canadapost import CanadaPostService
from sandbox.canadapost.state import EASTERN
from sandbox.canadapost.wire import MT_MANIFEST, MT_NCSHIPMENT, MT_PDF, MT_SHIPMENT, MT_TRACK, MT_ZPL, NS_SHIPMENT
from sandbox.core import SandboxServer
from tests.sandbox._canadapost_helpers import (
    CUSTOMER,
    PASSWORD,
    USER,
    E,
    XmlClient,
    assert_valid,
    links,
    messages,
    nc_shipment_xml,
    refund_xml,
    shipment_xml,
)


def _service(**options: object) -> CanadaPostService:
    return CanadaPostService(user=USER, password=PASSWORD, customer_number=CUSTOMER, seed=11, **options)


@pytest.fixture
def cp() -> Iterator[tuple[CanadaPostService, SandboxServer]]:
    service = _service(tracking_step_s=10)
    with SandboxServer(service) as server:
        yield service, server


@pytest.fixture
def client(cp: tuple[CanadaPostService, SandboxServer]) -> XmlClient:
    return XmlClient(cp[1].url)


def _text(doc: etree._Element, name: str) -> str | None:
    return doc.findtext(f"{{{NS_SHIPMENT}}}{name}")


# -- create ------------------------------------------------------------------------------------


def test_create_returns_schema_valid_shipment_info_with_unique_pins_and_absolute_links(client: XmlClient) -> None:
    first = client.create_ok(shipment_xml("ORDER-1-1"))
    second = client.create_ok(shipment_xml("ORDER-2-1"))

    ids = [_text(d, "shipment-id") or "" for d in (first, second)]
    pins = [_text(d, "tracking-pin") or "" for d in (first, second)]
    assert all(len(i) == 18 and i.isdigit() for i in ids)
    assert ids[0] != ids[1]
    assert pins[0] != pins[1] and all(11 <= len(p) <= 16 for p in pins)
    assert _text(first, "shipment-status") == "created"

    rels = links(first)
    assert {"self", "details", "group", "price", "label", "refund"} <= set(rels)
    assert all(el.get("href", "").startswith(client.url + "/rs/") for el in rels.values())
    assert rels["label"].get("media-type") == MT_PDF and rels["label"].get("index") == "0"
    assert rels["group"].get("href", "").endswith("shipment?groupId=G1")

    price = first.find(f"{{{NS_SHIPMENT}}}shipment-price")
    assert price is not None
    amount = {c.tag.split("}")[1]: c.text for c in price}
    taxes = sum(float(amount[k] or 0) for k in ("gst-amount", "pst-amount", "hst-amount"))
    assert float(amount["hst-amount"] or 0) > 0  # Ontario destination: HST
    assert round(float(amount["pre-tax-amount"] or 0) + taxes, 2) == float(amount["due-amount"] or 0)


def test_price_is_returned_only_when_asked_but_the_price_link_always_works(client: XmlClient) -> None:
    doc = client.create_ok(shipment_xml("ORDER-3-1", pricing=False))
    assert doc.find(f"{{{NS_SHIPMENT}}}shipment-price") is None
    resp = client.request("GET", links(doc)["price"].get("href", ""), MT_SHIPMENT)
    assert resp.status_code == 200
    price = assert_valid(resp.content)
    assert price.tag == f"{{{NS_SHIPMENT}}}shipment-price"
    assert float(price.findtext(f"{{{NS_SHIPMENT}}}due-amount") or 0) > 0


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (shipment_xml("BAD-1", postal="M5V 3L9", extra=E(NS_SHIPMENT, "colour", text="red")), "colour"),
        (b"<shipment xmlns='http://www.canadapost.ca/ws/shipment-v7'/>", "No matching global declaration"),
        (shipment_xml("BAD-2").replace(b"<weight>1.25</weight>", b"<weight>heavy</weight>"), "weight"),
        (b"<shipment", "not well-formed"),
    ],
)
def test_invalid_bodies_get_400_with_a_schema_messages_body_and_create_nothing(
    cp: tuple[CanadaPostService, SandboxServer], client: XmlClient, body: bytes, needle: str
) -> None:
    resp = client.create(body)
    assert resp.status_code == 400
    found = messages(resp.content)
    assert found and all(code == "Server" for code, _ in found)
    assert any(needle in desc for _, desc in found), found
    assert cp[0].inspect()["shipments"] == 0


def test_group_id_and_transmit_shipment_are_mutually_exclusive(client: XmlClient) -> None:
    both = shipment_xml("BOTH-1", extra=E(NS_SHIPMENT, "transmit-shipment", text="true"))
    assert client.create(both).status_code == 400
    neither = shipment_xml("NEITHER-1").replace(b"<group-id>G1</group-id>", b"")
    assert client.create(neither).status_code == 400
    alone = client.create_ok(shipment_xml("ALONE-1", group_id=None))
    assert "group" not in links(alone)


def test_contract_shipment_without_contract_id_gets_2206(client: XmlClient) -> None:
    resp = client.create(shipment_xml("NOCONTRACT-1", contract_id=None))
    assert resp.status_code == 400
    assert [code for code, _ in messages(resp.content)] == ["2206"]
    wrong = client.create(shipment_xml("OTHER-CONTRACT-1", contract_id="999"))
    assert wrong.status_code == 400


# -- auth and headers ---------------------------------------------------------------------------


def test_auth_mailed_by_and_exact_media_types(cp: tuple[CanadaPostService, SandboxServer]) -> None:
    url = cp[1].url
    body = shipment_xml("AUTH-1")
    wrong = XmlClient(url, password="nope").create(body)
    assert wrong.status_code == 401
    assert [c for c, _ in messages(wrong.content)] == ["E002"]

    anonymous = requests.post(
        f"{url}/rs/{CUSTOMER}/{CUSTOMER}/shipment",
        data=body,
        headers={"Accept": MT_SHIPMENT, "Content-Type": MT_SHIPMENT},
        timeout=10,
    )
    assert anonymous.status_code == 401

    other = XmlClient(url, customer="9999999").create(body)
    assert other.status_code == 401
    assert [c for c, _ in messages(other.content)] == ["AA003"]

    client = XmlClient(url)
    star = client.request("POST", f"{client.base}/shipment", "*/*", body, headers={"Content-Type": MT_SHIPMENT})
    assert star.status_code == 406
    old = client.request("POST", f"{client.base}/shipment", MT_SHIPMENT, body, headers={"Content-Type": "text/xml"})
    assert old.status_code == 415
    assert cp[0].inspect()["shipments"] == 0
    # Zero-padded customer numbers name the same customer.
    padded = XmlClient(url, customer=CUSTOMER.zfill(10))
    assert padded.create(body).status_code == 200


# -- look-ups -----------------------------------------------------------------------------------


def test_get_shipments_by_request_id_tracking_pin_and_group(client: XmlClient) -> None:
    a = client.create_ok(shipment_xml("LOOK-1", group_id="GA"))
    b = client.create_ok(shipment_xml("LOOK-2", group_id="GA"))
    self_a = links(a)["self"].get("href")
    self_b = links(b)["self"].get("href")

    assert client.search(requestId="LOOK-1") == [self_a]
    assert client.search(trackingPIN=_text(b, "tracking-pin") or "") == [self_b]
    assert client.search(groupId="GA") == [self_a, self_b]
    assert client.search(requestId="NEVER-SENT") == []
    today = dt.datetime.now(EASTERN).strftime("%Y%m%d")
    assert client.search(noManifest="true", date=today) == [self_a, self_b]

    no_filter = client.request("GET", f"{client.base}/shipment", MT_SHIPMENT)
    assert no_filter.status_code == 400

    got = client.request("GET", self_a or "", MT_SHIPMENT)
    assert got.status_code == 200
    assert _text(assert_valid(got.content), "shipment-id") == _text(a, "shipment-id")

    details = client.request("GET", links(a)["details"].get("href", ""), MT_SHIPMENT)
    assert details.status_code == 200
    doc = assert_valid(details.content)
    assert _text(doc, "customer-request-id") == "LOOK-1"
    assert _text(doc, "tracking-pin") == _text(a, "tracking-pin")
    assert doc.findtext(f".//{{{NS_SHIPMENT}}}group-id") == "GA"
    assert doc.findtext(f".//{{{NS_SHIPMENT}}}destination/{{{NS_SHIPMENT}}}name") == "Jane Roe"


# -- void / refund / transmit -----------------------------------------------------------------------


def test_void_is_204_then_404_and_a_voided_label_is_never_found_again(client: XmlClient) -> None:
    doc = client.create_ok(shipment_xml("VOID-1"))
    self_href = links(doc)["self"].get("href", "")
    assert client.request("DELETE", self_href, MT_SHIPMENT).status_code == 204

    again = client.request("DELETE", self_href, MT_SHIPMENT)
    assert again.status_code == 404
    assert messages(again.content) == []  # an empty <messages/>
    assert client.request("GET", self_href, MT_SHIPMENT).status_code == 404
    assert client.search(requestId="VOID-1") == []
    label = client.request("GET", links(doc)["label"].get("href", ""), MT_PDF)
    assert label.status_code == 404


def test_transmitted_shipment_cannot_be_voided_8064_and_refund_once_7292(client: XmlClient) -> None:
    doc = client.create_ok(shipment_xml("TX-1", group_id="GT"))
    assert client.transmit("GT").status_code == 200
    voided = client.request("DELETE", links(doc)["self"].get("href", ""), MT_SHIPMENT)
    assert voided.status_code == 400
    assert [c for c, _ in messages(voided.content)] == ["8064"]

    refund_href = links(doc)["refund"].get("href", "")
    first = client.request("POST", refund_href, MT_SHIPMENT, refund_xml())
    assert first.status_code == 200
    info = assert_valid(first.content)
    assert info.tag == f"{{{NS_SHIPMENT}}}shipment-refund-request-info"
    assert info.findtext(f"{{{NS_SHIPMENT}}}service-ticket-id")

    second = client.request("POST", refund_href, MT_SHIPMENT, refund_xml())
    assert second.status_code == 409
    assert [c for c, _ in messages(second.content)] == ["7292"]

    details = assert_valid(client.request("GET", links(doc)["details"].get("href", ""), MT_SHIPMENT).content)
    assert details.find(f".//{{{NS_SHIPMENT}}}refund-request-info") is not None

    bad = client.request(
        "POST", refund_href, MT_SHIPMENT, b"<shipment-refund-request xmlns='%s'/>" % NS_SHIPMENT.encode()
    )
    assert bad.status_code == 400  # the body is validated before the refund rule


def test_transmit_manifests_only_the_named_groups(client: XmlClient) -> None:
    a = client.create_ok(shipment_xml("M-1", group_id="G1"))
    b = client.create_ok(shipment_xml("M-2", group_id="G1"))
    c = client.create_ok(shipment_xml("M-3", group_id="G2"))

    groups = client.request("GET", f"{client.base}/group", MT_SHIPMENT)
    assert groups.status_code == 200
    assert [g.text for g in assert_valid(groups.content).iter(f"{{{NS_SHIPMENT}}}group-id")] == ["G1", "G2"]

    resp = client.transmit("G1")
    assert resp.status_code == 200 and resp.headers["Content-Type"] == MT_MANIFEST
    manifest_links = [el.get("href", "") for el in assert_valid(resp.content).iter("{*}link")]
    assert len(manifest_links) == 1

    manifest = assert_valid(client.request("GET", manifest_links[0], MT_MANIFEST).content)
    rels = links(manifest)
    assert {"self", "details", "artifact", "manifestShipments"} <= set(rels)
    po = manifest.findtext("{*}po-number")
    details = client.request("GET", rels["details"].get("href", ""), MT_MANIFEST)
    assert details.status_code == 200
    assert assert_valid(details.content).findtext("{*}po-number") == po
    listed = assert_valid(client.request("GET", rels["manifestShipments"].get("href", ""), MT_MANIFEST).content)
    assert sorted(el.get("href") for el in listed.iter("{*}link")) == sorted(
        links(d)["self"].get("href") for d in (a, b)
    )
    pdf = client.request("GET", rels["artifact"].get("href", ""), MT_PDF)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")

    for doc, status in ((a, "transmitted"), (b, "transmitted"), (c, "created")):
        now = assert_valid(client.request("GET", links(doc)["self"].get("href", ""), MT_SHIPMENT).content)
        assert _text(now, "shipment-status") == status
    assert client.search(groupId="G1") == []  # a group lists shipments still waiting for a transmit
    again = client.transmit("G1")
    assert again.status_code == 200 and list(assert_valid(again.content).iter("{*}link")) == []


# -- labels -------------------------------------------------------------------------------------


def test_label_is_a_one_page_4x6_pdf_with_pin_name_postal_code_and_a_stable_body(client: XmlClient) -> None:
    doc = client.create_ok(shipment_xml("LABEL-1", name="Zoë Gagnon", postal="K2P1L4"))
    pin = _text(doc, "tracking-pin") or ""
    href = links(doc)["label"].get("href", "")
    resp = client.request("GET", href, MT_PDF)
    assert resp.status_code == 200 and resp.headers["Content-Type"] == MT_PDF
    reader = PdfReader(io.BytesIO(resp.content))
    assert len(reader.pages) == 1
    page = reader.pages[0]
    assert (float(page.mediabox.width), float(page.mediabox.height)) == (288.0, 432.0)
    text = page.extract_text()
    assert pin in text and "Zoë Gagnon" in text and "K2P1L4" in text
    assert client.request("GET", href, MT_PDF).content == resp.content  # a re-fetch is the same label

    zpl = client.request("GET", href, MT_ZPL)
    assert zpl.status_code == 200 and zpl.headers["Content-Type"] == MT_ZPL
    assert b"^BC" in zpl.content and pin.encode() in zpl.content
    assert client.request("GET", href, "*/*").status_code == 406


def test_label_not_ready_first_answers_202_until_a_retry_after_one_second() -> None:
    service = _service(artifact_not_ready_first=True)
    with SandboxServer(service) as server:
        client = XmlClient(server.url)
        doc = client.create_ok(shipment_xml("READY-1"))
        href = links(doc)["label"].get("href", "")
        first = client.request("GET", href, MT_PDF)
        assert first.status_code == 202
        assert not first.content.startswith(b"%PDF")
        assert client.request("GET", href, MT_PDF).status_code == 202  # retried too soon
        service.advance(1.05)
        ok = client.request("GET", href, MT_PDF)
        assert ok.status_code == 200 and ok.content.startswith(b"%PDF")
        assert service.inspect()["label_fetches"] == 1


# -- non-contract -------------------------------------------------------------------------------


def test_non_contract_create_lookup_by_pin_and_eastern_window_details_and_refund(client: XmlClient) -> None:
    resp = client.create_nc(nc_shipment_xml())
    assert resp.status_code == 200 and resp.headers["Content-Type"] == MT_NCSHIPMENT
    doc = assert_valid(resp.content)
    pin = doc.findtext("{*}tracking-pin") or ""
    rels = links(doc)
    assert {"self", "details", "label", "refund"} <= set(rels)

    def nc_search(**params: str) -> list[str]:
        r = client.request("GET", f"/rs/{CUSTOMER}/ncshipment", MT_NCSHIPMENT, params=params)
        assert r.status_code == 200, r.text
        return [el.get("href", "") for el in assert_valid(r.content).iter("{*}link")]

    assert nc_search(trackingPIN=pin) == [rels["self"].get("href")]
    now = dt.datetime.now(EASTERN)
    fmt = "%Y%m%d%H%M"
    window = {
        "from": (now - dt.timedelta(minutes=5)).strftime(fmt),
        "to": (now + dt.timedelta(minutes=5)).strftime(fmt),
    }
    assert nc_search(**window) == [rels["self"].get("href")]
    earlier = {"from": (now - dt.timedelta(hours=3)).strftime(fmt), "to": (now - dt.timedelta(hours=2)).strftime(fmt)}
    assert nc_search(**earlier) == []
    assert client.request("GET", f"/rs/{CUSTOMER}/ncshipment", MT_NCSHIPMENT).status_code == 400

    details = client.request("GET", rels["details"].get("href", ""), MT_NCSHIPMENT)
    assert details.status_code == 200
    assert assert_valid(details.content).findtext(".//{*}destination/{*}name") == "Luc Tremblay"
    # A contract media type is not the non-contract one.
    assert client.request("GET", rels["self"].get("href", ""), MT_SHIPMENT).status_code == 406

    body = refund_xml(doc.nsmap[None], "non-contract-shipment-refund-request")
    first = client.request("POST", rels["refund"].get("href", ""), MT_NCSHIPMENT, body)
    assert first.status_code == 200
    assert assert_valid(first.content).findtext("{*}service-ticket-id")
    second = client.request("POST", rels["refund"].get("href", ""), MT_NCSHIPMENT, body)
    assert second.status_code == 409 and [c for c, _ in messages(second.content)] == ["7292"]


# -- tracking -----------------------------------------------------------------------------------


def test_tracking_summary_advances_after_transmit(
    cp: tuple[CanadaPostService, SandboxServer], client: XmlClient
) -> None:
    service = cp[0]
    unknown = client.request("GET", "/vis/track/pin/1234567890123456/summary", MT_TRACK)
    assert unknown.status_code == 404
    assert messages(unknown.content) == [("004", "No Pin History")]

    doc = client.create_ok(shipment_xml("TRACK-1", group_id="GTR"))
    pin = _text(doc, "tracking-pin")
    path = f"/vis/track/pin/{pin}/summary"
    service.advance(120)
    assert client.request("GET", path, MT_TRACK).status_code == 404  # not transmitted: never scanned

    assert client.transmit("GTR").status_code == 200
    service.advance(10)  # tracking_step_s=10
    resp = client.request("GET", path, MT_TRACK)
    assert resp.status_code == 200 and resp.headers["Content-Type"] == MT_TRACK
    summary = assert_valid(resp.content)
    assert summary.findtext(".//{*}event-type") == "INDUCTION"
    assert summary.findtext(".//{*}actual-delivery-date") == ""
    assert summary.findtext(".//{*}destination-postal-id") == "M5V"

    service.advance(40)
    delivered = assert_valid(client.request("GET", path, MT_TRACK).content)
    assert delivered.findtext(".//{*}event-type") == "DELIVERED"
    assert delivered.findtext(".//{*}actual-delivery-date")
    assert client.request("GET", path, "application/xml").status_code == 406


# -- throttling, faults, persistence --------------------------------------------------------------


def test_over_the_group_limit_the_reply_is_rejected_by_slm_monitor(
    cp: tuple[CanadaPostService, SandboxServer], client: XmlClient
) -> None:
    server = cp[1]
    assert server.limiter.as_dict()["limits"] == {"A": 646, "B": 468, "C": 730, "D": 840, "E": 20}
    server.limiter.configure(limits={"E": 2})
    path = "/vis/track/pin/1234567890123456/summary"
    assert [client.request("GET", path, MT_TRACK).status_code for _ in range(2)] == [404, 404]
    throttled = client.request("GET", path, MT_TRACK)
    assert throttled.status_code == 503
    assert "Retry-After" not in throttled.headers
    assert messages(throttled.content) == [("Server", "Rejected by SLM Monitor")]
    # Other groups have their own window.
    assert client.create(shipment_xml("THR-1")).status_code == 200


def test_faults_use_canada_post_shapes_and_commit_then_drop_is_recoverable_by_request_id(
    cp: tuple[CanadaPostService, SandboxServer], client: XmlClient
) -> None:
    service, server = cp
    server.faults.set("create_shipment", {"error_rate": 1, "error_statuses": [502], "count": 1})
    failed = client.create(shipment_xml("FAULT-1"))
    assert failed.status_code == 502 and messages(failed.content)[0][0] == "Server"
    assert service.inspect()["shipments"] == 0

    server.faults.set("create_shipment", {"drop_rate": 1, "count": 1})
    with pytest.raises(requests.ConnectionError):
        client.create(shipment_xml("FAULT-2"))
    # The label was bought: the look-up finds it, so a careful client adopts it instead of re-posting.
    (found,) = client.search(requestId="FAULT-2")
    assert service.inspect()["shipments_by_customer_request_id"]["FAULT-2"] == [found.rsplit("/", 1)[1]]

    server.faults.set("get_shipment", {"malformed_rate": 1, "count": 1})
    broken = client.request("GET", found, MT_SHIPMENT)
    assert broken.status_code == 200
    with pytest.raises(etree.XMLSyntaxError):
        etree.fromstring(broken.content)


def test_snapshot_restore_keeps_shipments_and_never_reuses_a_pin(
    client: XmlClient, cp: tuple[CanadaPostService, SandboxServer]
) -> None:
    doc = client.create_ok(shipment_xml("SNAP-1"))
    data = json.loads(json.dumps(cp[0].snapshot()))
    restored = _service()
    restored.restore(data)
    with SandboxServer(restored) as server:
        again = XmlClient(server.url)
        assert len(again.search(requestId="SNAP-1")) == 1
        fresh = again.create_ok(shipment_xml("SNAP-2"))
        assert _text(fresh, "tracking-pin") != _text(doc, "tracking-pin")
        assert _text(fresh, "shipment-id") != _text(doc, "shipment-id")
        assert restored.inspect()["shipments"] == 2
