"""The Canada Post sandbox's visibility-delay fault (issue 12 item 4), over real HTTP.

A shipment created under the fault exists (it is billed, readable by its id) but no search lists it
for ``visibility_delay_seconds`` of the sandbox clock: the XML contract gateway's look-up by request
id, the non-contract window list and the portal's JSON look-ups alike. Configured like every other
fault (``POST /__admin/faults``, ``SandboxHandle.set_faults``, CLI ``--canadapost-fault``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
import requests

from sandbox.canadapost import CanadaPostService
from sandbox.canadapost.state import EASTERN
from sandbox.canadapost.wire import MT_NCSHIPMENT, MT_SHIPMENT
from sandbox.core import FaultSpec, SandboxServer
from tests.sandbox._canadapost_helpers import (
    CUSTOMER,
    PASSWORD,
    USER,
    PortalClient,
    XmlClient,
    assert_valid,
    links,
    nc_shipment_xml,
    shipment_json,
    shipment_xml,
)


@pytest.fixture
def cp() -> Iterator[tuple[CanadaPostService, SandboxServer]]:
    service = CanadaPostService(user=USER, password=PASSWORD, customer_number=CUSTOMER, seed=3)
    with SandboxServer(service) as server:
        yield service, server


@pytest.fixture
def xml(cp: tuple[CanadaPostService, SandboxServer]) -> XmlClient:
    return XmlClient(cp[1].url)


@pytest.fixture
def portal(cp: tuple[CanadaPostService, SandboxServer]) -> PortalClient:
    client = PortalClient(cp[1].url)
    client.login()
    return client


def _admin(cp: tuple[CanadaPostService, SandboxServer], action: str, payload: dict) -> dict:
    resp = requests.post(f"{cp[1].url}/__admin/{action}", json=payload, timeout=5)
    assert resp.status_code == 200, resp.text
    return resp.json()


def _hide_next_create(cp: tuple[CanadaPostService, SandboxServer], endpoint: str = "create_shipment",
                      seconds: float = 30, **more: object) -> None:
    faults = _admin(cp, "faults", {"endpoint": endpoint, "visibility_delay_rate": 1,
                                   "visibility_delay_seconds": seconds, "count": 1, **more})
    assert faults[endpoint]["visibility_delay_seconds"] == seconds


def test_contract_shipment_is_billed_but_not_found_by_request_id_until_the_delay_ends(cp, xml) -> None:
    service, _ = cp
    _hide_next_create(cp)
    made = xml.create_ok(shipment_xml("HIDE-1"))
    self_href = links(made)["self"].get("href", "")

    assert xml.search(requestId="HIDE-1") == []  # the look-up a careful client makes after a doubt
    pin = made.findtext("{*}tracking-pin") or ""
    assert xml.search(trackingPIN=pin) == []
    assert xml.search(groupId="G1") == []
    # It exists and costs money: readable by its id, counted by the admin state.
    assert xml.request("GET", self_href, MT_SHIPMENT).status_code == 200
    state = service.inspect()
    assert state["shipments_by_customer_request_id"]["HIDE-1"] == [self_href.rsplit("/", 1)[1]]
    assert state["hidden_shipments"] == [self_href.rsplit("/", 1)[1]]

    # count=1: the next create is visible at once.
    xml.create_ok(shipment_xml("SEEN-1"))
    assert len(xml.search(requestId="SEEN-1")) == 1

    _admin(cp, "advance_clock", {"seconds": 31})
    assert xml.search(requestId="HIDE-1") == [self_href]
    assert service.inspect()["hidden_shipments"] == []


def test_with_a_dropped_answer_the_client_sees_nothing_anywhere(cp, xml) -> None:
    service, _ = cp
    _hide_next_create(cp, drop_rate=1)
    with pytest.raises(requests.ConnectionError):
        xml.create(shipment_xml("HIDE-2"))
    assert len(service.inspect()["shipments_by_customer_request_id"]["HIDE-2"]) == 1  # bought
    assert xml.search(requestId="HIDE-2") == []  # ... and invisible to the look-up
    service.advance(31)
    assert len(xml.search(requestId="HIDE-2")) == 1


def test_non_contract_shipment_is_left_out_of_the_window_list(cp, xml) -> None:
    _hide_next_create(cp, endpoint="create_nc_shipment", seconds=20)
    resp = xml.create_nc(nc_shipment_xml())
    assert resp.status_code == 200
    self_href = links(assert_valid(resp.content))["self"].get("href", "")

    def window_list() -> list[str]:
        now = dt.datetime.now(EASTERN) + dt.timedelta(seconds=cp[0].store.clock_offset)
        params = {"from": (now - dt.timedelta(minutes=5)).strftime("%Y%m%d%H%M"),
                  "to": (now + dt.timedelta(minutes=5)).strftime("%Y%m%d%H%M")}
        r = xml.request("GET", f"/rs/{CUSTOMER}/ncshipment", MT_NCSHIPMENT, params=params)
        assert r.status_code == 200, r.text
        return [el.get("href", "") for el in assert_valid(r.content).iter("{*}link")]

    assert window_list() == []
    assert xml.request("GET", self_href + "/details", MT_NCSHIPMENT).status_code == 200
    cp[0].advance(21)
    assert window_list() == [self_href]


def test_portal_json_look_ups_do_not_see_it_either(cp, portal, xml) -> None:
    _hide_next_create(cp, seconds=10)
    created = portal.request("POST", portal.shipments, shipment_json("HIDE-J"))
    assert created.status_code == 200, created.text
    for params in ({"requestId": "HIDE-J"}, {"customerRequestId": "HIDE-J"},
                   {"trackingPin": created.json()["trackingPin"]}):
        found = portal.request("GET", portal.shipments, params=params)
        assert found.status_code == 200 and found.json()["links"] == [], params
    assert xml.search(requestId="HIDE-J") == []  # one state behind both transports
    cp[0].advance(11)
    (link,) = portal.request("GET", portal.shipments, params={"requestId": "HIDE-J"}).json()["links"]
    assert link["href"].endswith("/" + created.json()["shipmentId"])


def test_fault_options_are_validated_and_parse_from_the_cli() -> None:
    endpoint, spec = FaultSpec.parse_cli("create_shipment:visibility_delay_rate=0.5,visibility_delay_seconds=90")
    assert (endpoint, spec.visibility_delay_rate, spec.visibility_delay_seconds) == ("create_shipment", 0.5, 90.0)
    with pytest.raises(ValueError, match="visibility_delay_rate"):
        FaultSpec.from_dict({"visibility_delay_rate": 2})
    with pytest.raises(ValueError, match="visibility_delay_seconds"):
        FaultSpec.from_dict({"visibility_delay_rate": 1, "visibility_delay_seconds": -1})


def test_a_hidden_shipment_is_still_transmitted_with_its_group(cp, xml) -> None:
    """Only the look-ups lag: Canada Post's own work on a group (transmit) includes the shipment."""
    service, _ = cp
    _hide_next_create(cp)
    hidden = links(xml.create_ok(shipment_xml("HIDE-T", group_id="GT")))["self"].get("href", "").rsplit("/", 1)[1]
    seen = links(xml.create_ok(shipment_xml("SEEN-T", group_id="GT")))["self"].get("href", "").rsplit("/", 1)[1]
    assert xml.transmit("GT").status_code == 200
    assert {service.store.shipments[i].status for i in (hidden, seen)} == {"transmitted"}
