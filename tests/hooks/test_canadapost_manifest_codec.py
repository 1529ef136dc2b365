"""Pure end-of-day builders and parsers (no network): the transmit-set with its customer reference is
valid against manifest.xsd; answers in XML and in the portal's JSON parse to the same values."""

from __future__ import annotations

import datetime as dt

import pytest
from lxml import etree

from orderflow.hooks import canadapost_json as cpjson
from orderflow.hooks import canadapost_manifest as cpm
from orderflow.hooks import canadapost_xml as cpxml
from tests.hooks._cp_fixtures import assert_valid, settings

NS = cpxml.NS_MANIFEST


def test_transmit_set_with_customer_reference_is_valid() -> None:
    root = cpm.build_transmit_set(["20261203-1"], settings(), cpm.customer_reference_for(["20261203-1"]))
    doc = assert_valid(cpxml.to_bytes(root), "manifest.xsd")
    assert doc.findtext(f"{{{NS}}}customer-reference") == "20261203-1"
    assert [g.text for g in doc.iter(f"{{{NS}}}group-id")] == ["20261203-1"]
    with pytest.raises(ValueError):
        cpm.build_transmit_set(["G"], settings(), "x" * 13)
    assert cpm.customer_reference_for(["a", "b"]) is None
    assert cpm.customer_reference_for(["x" * 13]) is None


def test_manifests_by_date_params() -> None:
    assert cpm.manifests_by_date_params(dt.date(2026, 12, 3), dt.date(2026, 12, 4)) == {
        "start": "20261203", "end": "20261204"}
    with pytest.raises(ValueError):
        cpm.manifests_by_date_params(dt.date(2026, 12, 4), dt.date(2026, 12, 3))


MANIFEST_XML = f"""<manifest xmlns="{NS}"><po-number>P123456789</po-number><links>
<link rel="self" href="https://x/rs/1/1/manifest/20001" media-type="application/vnd.cpc.manifest-v8+xml"/>
<link rel="details" href="https://x/rs/1/1/manifest/20001/details" media-type="application/vnd.cpc.manifest-v8+xml"/>
<link rel="artifact" href="https://x/rs/artifact/ab/77/0" media-type="application/pdf" index="0"/>
<link rel="manifestShipments" href="https://x/rs/1/1/manifest/20001/shipments"
 media-type="application/vnd.cpc.manifest-v8+xml"/></links></manifest>""".encode()


def test_manifest_parses_the_same_from_xml_and_portal_json() -> None:
    xml_root = assert_valid(MANIFEST_XML, "manifest.xsd")
    from_xml = cpm.parse_manifest(xml_root)
    portal = cpjson.json_to_element(cpjson.decode(cpjson.encode_request(xml_root)), "manifest", NS)
    assert cpm.parse_manifest(portal) == from_xml
    assert from_xml.manifest_id == "20001" and from_xml.po_number == "P123456789"
    assert from_xml.artifact_link == "https://x/rs/artifact/ab/77/0"


def test_manifest_shipments_and_links_lists() -> None:
    mt = 'media-type="application/vnd.cpc.shipment-v8+xml"'
    body = (f'<shipments xmlns="{NS}"><link rel="shipment" href="https://x/rs/1/1/shipment/111" {mt}/>'
            f'<link rel="shipment" href="https://x/rs/1/1/shipment/222/" {mt}/></shipments>').encode()
    assert cpm.parse_manifest_shipments(assert_valid(body, "manifest.xsd")) == ["111", "222"]
    listed = f'<manifests xmlns="{NS}"><link rel="manifest" href="https://x/m/1"/></manifests>'.encode()
    assert cpm.parse_manifest_links(etree.fromstring(listed)).manifest_links == ["https://x/m/1"]
    with pytest.raises(cpxml.XmlDecodeError):
        cpm.parse_manifest_links(etree.fromstring(body))
