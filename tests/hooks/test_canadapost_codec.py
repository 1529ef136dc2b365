"""Pure Canada Post codecs (karrio style): request builders against the official XSDs, answer parsers
for success and each error shape, the portal's camelCase JSON mapping and the exception table."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from lxml import etree

from orderflow.hooks import canadapost_json as cpjson
from orderflow.hooks import canadapost_xml as cpxml
from orderflow.hooks.canadapost_errors import (
    CanadaPostAuthError,
    CanadaPostNotFoundError,
    CanadaPostPermanentError,
    CanadaPostRetryableError,
    CanadaPostThrottledError,
    RefundAlreadyRequested,
    RefundRequired,
    exception_for,
)
from orderflow.hooks.canadapost_model import CarrierMessage, Parcel, References, ShipmentRequest
from tests.hooks._cp_fixtures import (
    NS8,
    TRACKING_XML,
    assert_valid,
    messages_xml,
    nc_details_xml,
    settings,
    shipment_info_xml,
    shipment_request,
    shipments_list_xml,
)

V8 = "{http://www.canadapost.ca/ws/shipment-v8}"


# --------------------------------------------------------------------------------------------
# builders
# --------------------------------------------------------------------------------------------


def test_contract_shipment_body_is_valid_v8_and_carries_the_exactly_once_key():
    body = cpxml.to_bytes(cpxml.build_contract_shipment(shipment_request(group_id="20261124"), settings()))
    doc = assert_valid(body, "shipment.xsd")
    assert doc.tag == f"{V8}shipment"
    assert doc.findtext(f"{V8}customer-request-id") == "252884385-A"
    assert doc.findtext(f"{V8}group-id") == "20261124"
    assert doc.find(f"{V8}transmit-shipment") is None
    assert doc.findtext(f"{V8}requested-shipping-point") == "K1P5N2"
    spec = doc.find(f"{V8}delivery-spec")
    assert spec.findtext(f"{V8}service-code") == "DOM.EP"
    assert spec.findtext(f"{V8}destination/{V8}address-details/{V8}postal-zip-code") == "M5V3L9"
    assert spec.findtext(f"{V8}parcel-characteristics/{V8}weight") == "1.200"
    assert spec.findtext(f"{V8}parcel-characteristics/{V8}dimensions/{V8}length") == "30.0"
    assert spec.findtext(f"{V8}print-preferences/{V8}output-format") == "4x6"
    assert spec.findtext(f"{V8}settlement-info/{V8}contract-id") == "0042708517"
    assert spec.findtext(f"{V8}settlement-info/{V8}intended-method-of-payment") == "Account"


def test_contract_shipment_without_group_asks_for_transmit_shipment():
    body = cpxml.to_bytes(cpxml.build_contract_shipment(shipment_request(), settings()))
    doc = assert_valid(body, "shipment.xsd")
    assert doc.findtext(f"{V8}transmit-shipment") == "true"
    assert doc.find(f"{V8}group-id") is None


def test_nc_shipment_is_valid_v4_and_stamps_the_request_id_in_a_reference():
    request = shipment_request(references=References(customer_ref_1="252884385"))
    body = cpxml.to_bytes(cpxml.build_nc_shipment(request, settings(contract=False)))
    doc = assert_valid(body, "ncshipment.xsd")
    nc = "{http://www.canadapost.ca/ws/ncshipment-v4}"
    refs = doc.find(f"{nc}delivery-spec/{nc}references")
    assert refs.findtext(f"{nc}customer-ref-1") == "252884385"
    assert refs.findtext(f"{nc}customer-ref-2") == "252884385-A"
    # v4 has no customer-request-id, no settlement contract, no sender country
    assert doc.find(f".//{nc}customer-request-id") is None
    assert doc.find(f".//{nc}sender/{nc}address-details/{nc}country-code") is None


def test_nc_shipment_refuses_when_no_reference_slot_can_hold_the_request_id():
    request = shipment_request(references=References(customer_ref_1="a", customer_ref_2="b"))
    with pytest.raises(ValueError, match="customer-ref"):
        cpxml.build_nc_shipment(request, settings(contract=False))


@pytest.mark.parametrize("contract,xsd_name", [(True, "shipment.xsd"), (False, "ncshipment.xsd")])
def test_refund_request_bodies_are_valid(contract, xsd_name):
    body = cpxml.to_bytes(cpxml.build_refund_request("refunds@example.ca", contract=contract))
    assert_valid(body, xsd_name)


def test_transmit_set_is_valid_manifest_v8():
    body = cpxml.to_bytes(cpxml.build_transmit_set(["20261124", "20261125"], settings()))
    doc = assert_valid(body, "manifest.xsd")
    m = "{http://www.canadapost.ca/ws/manifest-v8}"
    assert [g.text for g in doc.findall(f"{m}group-ids/{m}group-id")] == ["20261124", "20261125"]
    assert doc.findtext(f"{m}manifest-address/{m}manifest-company") == "Northern Electronics"
    with pytest.raises(ValueError):
        cpxml.build_transmit_set([], settings())


def test_request_model_rejects_what_canada_post_would():
    with pytest.raises(ValueError):
        shipment_request(crid="x" * 36)
    with pytest.raises(ValueError):
        Parcel(Decimal("0"))
    with pytest.raises(ValueError):
        Parcel(Decimal("1"), Decimal("10"))
    assert Parcel(Decimal("1.23456")).weight_kg == Decimal("1.235")


def test_paths_and_nc_window_in_eastern_time():
    s = settings()
    assert cpxml.shipments_path(s) == "/rs/1234567/1234567/shipment"
    assert cpxml.shipments_path(settings(contract=False)) == "/rs/1234567/ncshipment"
    assert cpxml.manifest_path(s) == "/rs/1234567/1234567/manifest"
    assert cpxml.tracking_summary_path("1234567890123456") == "/vis/track/pin/1234567890123456/summary"
    window = cpxml.nc_window_params(datetime(2026, 1, 15, 17, 5, tzinfo=UTC), datetime(2026, 7, 15, 17, 5, tzinfo=UTC))
    assert window == {"from": "202601151205", "to": "202607151305"}  # EST then EDT


# --------------------------------------------------------------------------------------------
# parsers
# --------------------------------------------------------------------------------------------


def test_parse_contract_shipment_info():
    info, messages = cpxml.parse_shipment_info(shipment_info_xml("https://x"))
    assert messages == []
    assert info.shipment_id == "340531309186521749"
    assert info.tracking_pin == "1234567890123456"
    assert info.status == "created"
    assert info.customer_request_id == "252884385-A"
    assert info.price == Decimal("11.87")
    assert info.links["label"] == "https://x/rs/artifact/6e93d53968881714/10001782951/0"
    assert info.label_media_type == "application/pdf"
    assert info.contract


def test_parse_nc_shipment_info():
    info, _ = cpxml.parse_shipment_info(shipment_info_xml("https://x", contract=False))
    assert not info.contract and info.status is None and info.price is None
    assert info.self_link.endswith("/rs/1234567/ncshipment/340531309186521749")


def test_parse_error_messages_shape():
    info, messages = cpxml.parse_shipment_info(messages_xml(("9162", "Dimensions needed"), ("1711", "Payment")))
    assert info is None
    assert messages == [CarrierMessage("9162", "Dimensions needed"), CarrierMessage("1711", "Payment")]
    assert cpxml.parse_messages(b"") == []
    assert cpxml.parse_messages(b"<html>gateway</html>") == []
    assert cpxml.parse_messages(messages_xml()) == []  # 404's empty <messages/>


@pytest.mark.parametrize("body", [b"", b"<shipment-info", b"<html><body>502</body></html>",
                                  b'<shipment-info xmlns="' + NS8.encode() + b'"><links/></shipment-info>'])
def test_parse_malformed_shipment_info_raises(body):
    with pytest.raises(cpxml.XmlDecodeError):
        cpxml.parse_shipment_info(body)


def test_parser_does_not_resolve_entities():
    evil = (b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            b'<messages xmlns="http://www.canadapost.ca/ws/messages"><message><code>&x;</code>'
            b"<description>d</description></message></messages>")
    messages = cpxml.parse_messages(evil)
    assert all("root:" not in m.code for m in messages)


def test_parse_shipments_list_and_details():
    items, _ = cpxml.parse_shipments(shipments_list_xml(["https://x/a", "https://x/b"]))
    assert items == ["https://x/a", "https://x/b"]
    items, _ = cpxml.parse_shipments(shipments_list_xml([], nc=True))
    assert items == []
    details, _ = cpxml.parse_shipment_details(nc_details_xml(("252884385", "252884385-A")))
    assert details.references == References("252884385", "252884385-A")


def test_parse_refund_manifests_tracking():
    refund, _ = cpxml.parse_refund_info(
        f'<shipment-refund-request-info xmlns="{NS8}"><service-ticket-date>2026-11-24</service-ticket-date>'
        "<service-ticket-id>GT12345678</service-ticket-id></shipment-refund-request-info>".encode()
    )
    assert refund.service_ticket_id == "GT12345678"
    result, _ = cpxml.parse_manifests(
        b'<manifests xmlns="http://www.canadapost.ca/ws/manifest-v8"><link rel="manifest" href="https://x/m/1"'
        b' media-type="application/vnd.cpc.manifest-v8+xml"/></manifests>'
    )
    assert result.manifest_links == ["https://x/m/1"]
    summary, _ = cpxml.parse_tracking_summary(TRACKING_XML)
    assert summary.pin == "1234567890123456" and summary.delivered
    assert summary.event_type == "DELIVERED" and summary.customer_ref_2 is None
    none, messages = cpxml.parse_tracking_summary(messages_xml(("004", "No Pin History")))
    assert none is None and messages[0].code == "004"


# --------------------------------------------------------------------------------------------
# portal JSON codec
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "xml_name,json_key",
    [("address-line-1", "addressLine1"), ("customer-ref-2", "customerRef2"), ("delivery-spec", "deliverySpec"),
     ("intended-method-of-payment", "intendedMethodOfPayment"), ("prov-state", "provState"),
     ("weight", "weight"), ("group-ids", "groupIds")],
)
def test_camel_and_back(xml_name, json_key):
    assert cpjson.camel(xml_name) == json_key
    assert cpjson.kebab(json_key) == xml_name


def test_portal_create_body_is_camelcase_of_v8_and_round_trips_to_a_valid_v8_document():
    root = cpxml.build_contract_shipment(shipment_request(group_id="20261124"), settings())
    body = json.loads(cpjson.encode_request(root))
    assert body["customerRequestId"] == "252884385-A"
    assert body["groupId"] == "20261124"
    spec = body["deliverySpec"]
    assert spec["parcelCharacteristics"]["weight"] == 1.2
    assert spec["parcelCharacteristics"]["dimensions"] == {"length": 30.0, "width": 20.0, "height": 10.0}
    assert spec["settlementInfo"] == {"contractId": "0042708517", "intendedMethodOfPayment": "Account"}
    assert spec["destination"]["addressDetails"]["postalZipCode"] == "M5V3L9"
    assert spec["preferences"]["showPackingInstructions"] is False
    assert body["providePricingInfo"] is True
    # Back to XML (what a portal that maps JSON onto the XSD would do): valid v8.
    back = cpjson.json_to_element(body, "shipment", cpxml.NS_SHIPMENT)
    assert_valid(etree.tostring(back), "shipment.xsd")


def test_portal_transmit_body_uses_arrays_and_round_trips():
    body = json.loads(cpjson.encode_request(cpxml.build_transmit_set(["g1", "g2"], settings())))
    assert body["groupIds"] == ["g1", "g2"]
    assert body["detailedManifests"] is True
    back = cpjson.json_to_element(body, "transmit-set", cpxml.NS_MANIFEST)
    assert_valid(etree.tostring(back), "manifest.xsd")


@pytest.mark.parametrize("wrapped", [False, True])
def test_portal_shipment_info_answer_parses_with_the_xml_parser(wrapped):
    obj = {"shipmentId": "1", "shipmentStatus": "created", "trackingPin": "1234567890123456",
           "customerRequestId": "c-1", "shipmentPrice": {"dueAmount": 11.87},
           "links": [{"rel": "label", "href": "https://x/a/0", "mediaType": "application/pdf", "index": 0}]}
    root = cpjson.json_to_element({"shipmentInfo": obj} if wrapped else obj, "shipment-info")
    info = cpxml.shipment_info_from_element(root)
    assert (info.shipment_id, info.tracking_pin, info.customer_request_id) == ("1", "1234567890123456", "c-1")
    assert info.price == Decimal("11.87")
    assert info.links == {"label": "https://x/a/0"} and info.label_media_type == "application/pdf"


def test_portal_list_answers_in_every_accepted_shape():
    link = {"rel": "shipment", "href": "https://x/s/1", "mediaType": "application/json"}
    for obj in ({"links": [link]}, [link], {"shipments": [link]}):
        items, _ = cpxml.parse_shipments(etree.tostring(cpjson.shipments_to_element(obj)))
        assert items == ["https://x/s/1"]
    items, _ = cpxml.parse_shipments(etree.tostring(cpjson.shipments_to_element({"shipments": []})))
    assert items == []


def test_portal_error_shapes_and_field_mapping_detection():
    assert cpjson.parse_messages(b'{"messages":[{"code":"9162","description":"Dims"}]}') == [
        CarrierMessage("9162", "Dims")
    ]
    assert cpjson.parse_messages(b'{"messages":{"message":[{"code":"1","description":"d"}]}}')[0].code == "1"
    assert cpjson.parse_messages(b"not json") == []
    assert cpjson.rejects_field_name([CarrierMessage("Server", "Unrecognized field 'parcelCharacteristic'")])
    assert cpjson.rejects_field_name([CarrierMessage("Server", "unknown property: deliverySpec.foo")])
    assert not cpjson.rejects_field_name([CarrierMessage("Server", "The destination postal code is not valid")])


# --------------------------------------------------------------------------------------------
# status → exception table
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "status,messages,body,expected",
    [
        (400, [CarrierMessage("9162", "x")], "", CanadaPostPermanentError),
        (401, [], "", CanadaPostAuthError),
        (403, [], "", CanadaPostAuthError),
        (400, [CarrierMessage("AA002", "key/endpoint")], "", CanadaPostAuthError),
        (404, [], "", CanadaPostNotFoundError),
        (400, [CarrierMessage("8064", "void")], "", RefundRequired),
        (409, [CarrierMessage("7292", "refund")], "", RefundAlreadyRequested),
        (429, [], "", CanadaPostThrottledError),
        (503, [CarrierMessage("Server", "Rejected by SLM Monitor")], "", CanadaPostThrottledError),
        (500, [], "Rejected by SLM Monitor", CanadaPostThrottledError),
        (500, [], "", CanadaPostRetryableError),
        (502, [], "", CanadaPostRetryableError),
        (599, [], "", CanadaPostRetryableError),
        (415, [], "", CanadaPostPermanentError),
    ],
)
def test_status_to_exception(status, messages, body, expected):
    assert exception_for(status, messages, body) is expected


def test_permanent_errors_fail_the_airflow_task_and_keep_carrier_messages():
    from airflow.sdk.exceptions import AirflowFailException

    exc = CanadaPostPermanentError("create_shipment failed", status=400,
                                   messages=[CarrierMessage("9162", "Dimensions needed")], request_id="c-1")
    assert isinstance(exc, AirflowFailException)
    assert exc.codes == ["9162"] and exc.messages[0].description == "Dimensions needed"
    assert "HTTP 400" in str(exc) and "9162" in str(exc) and "c-1" in str(exc)
    assert not isinstance(CanadaPostRetryableError("x"), AirflowFailException)


def test_shipment_request_is_a_frozen_value():
    request = shipment_request()
    with pytest.raises(AttributeError):
        request.customer_request_id = "other"  # type: ignore[misc]
    assert isinstance(request, ShipmentRequest)
