"""The pure part of non-contract look-ups (issue 12 item 9): which listed shipments are read, what is
remembered, what is adopted. No network: the reads are callbacks that count."""

from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from orderflow.hooks.canadapost_model import References, ShipmentDetails, ShipmentInfo
from orderflow.hooks.canadapost_nc_lookup import NothingSeen, SeenInMemory, find_by_reference, remember_created

BASE = "https://ct.soa-gw.canadapost.ca/rs/0001234567/ncshipment/"


class Carrier:
    """Shipments by href, each with the customer-request-id stamped in customer-ref-2."""

    def __init__(self, crids: list[str]) -> None:
        self.crids = {f"{BASE}{100 + i}": crid for i, crid in enumerate(crids)}
        self.gone: set[str] = set()
        self.reads: Counter[str] = Counter()

    def listed(self) -> list[str]:
        return list(self.crids)

    def add(self, crid: str) -> str:
        href = f"{BASE}{100 + len(self.crids)}"
        self.crids[href] = crid
        return href

    def read_info(self, href: str) -> ShipmentInfo | None:
        self.reads["info"] += 1
        if href in self.gone:
            return None
        sid = href.rsplit("/", 1)[1]
        return ShipmentInfo(shipment_id=sid, tracking_pin=f"PIN{sid}", contract=False,
                            links={"self": href, "details": href + "/details", "label": f"{href}/label"})

    def read_details(self, info: ShipmentInfo) -> ShipmentDetails | None:
        self.reads["details"] += 1
        crid = self.crids[info.links["self"]]
        return ShipmentDetails(None, None, info.tracking_pin, None, References("ORDER", crid))

    def find(self, crid: str, seen) -> list[ShipmentInfo]:
        return find_by_reference(crid, self.listed(), read_info=self.read_info, read_details=self.read_details,
                                 seen=seen)


def test_without_memory_every_doubt_reads_every_shipment_twice() -> None:
    carrier = Carrier([f"O{i}-1" for i in range(10)])
    for _ in range(3):
        assert [i.shipment_id for i in carrier.find("O4-1", NothingSeen())] == ["104"]
    assert carrier.reads == {"info": 30, "details": 30}


def test_a_later_doubt_reads_only_the_new_shipments_and_rereads_a_remembered_match() -> None:
    carrier = Carrier([f"O{i}-1" for i in range(10)])
    seen = SeenInMemory()
    (first,) = carrier.find("O4-1", seen)
    assert first.customer_request_id == "O4-1" and len(seen) == 10
    assert carrier.reads == {"info": 10, "details": 10}

    carrier.reads.clear()
    new = carrier.add("O10-1")
    carrier.add("O11-1")
    (found,) = carrier.find("O10-1", seen)
    assert found.links["self"] == new
    assert carrier.reads == {"info": 2, "details": 2}  # the two new ones, nothing else

    carrier.reads.clear()
    (again,) = carrier.find("O4-1", seen)  # remembered: one GET to see it is still there, no details
    assert again.shipment_id == "104" and again.tracking_pin == "PIN104"
    assert carrier.reads == {"info": 1}

    carrier.reads.clear()
    assert carrier.find("NOT-1", seen) == []  # nothing new, nothing carries the id: only the list
    assert carrier.reads == {}


def test_a_remembered_shipment_gone_since_is_not_adopted() -> None:
    carrier = Carrier(["A-1", "B-1"])
    seen = SeenInMemory()
    assert len(carrier.find("A-1", seen)) == 1
    carrier.gone.add(f"{BASE}100")
    assert carrier.find("A-1", seen) == []


def test_a_shipment_gone_before_its_first_read_is_not_remembered() -> None:
    carrier = Carrier(["A-1", "B-1"])
    carrier.gone.add(f"{BASE}101")
    seen = SeenInMemory()
    carrier.find("B-1", seen)
    assert len(seen) == 1
    carrier.gone.clear()
    assert [i.shipment_id for i in carrier.find("B-1", seen)] == ["101"]


@settings(max_examples=40, deadline=None)
@given(
    batches=st.lists(st.lists(st.sampled_from(["A-1", "B-1", "C-1", "D-1"]), max_size=5), min_size=1, max_size=6),
    asked=st.lists(st.sampled_from(["A-1", "B-1", "C-1", "D-1", "E-1"]), min_size=6, max_size=6),
)
def test_memory_never_changes_what_a_look_up_finds_and_reads_each_shipment_in_full_once(
    batches: list[list[str]], asked: list[str]
) -> None:
    remembering, forgetful = Carrier([]), Carrier([])
    seen = SeenInMemory()
    for batch, crid in zip(batches, asked, strict=False):
        for c in batch:
            remembering.add(c)
            forgetful.add(c)
        with_memory = remembering.find(crid, seen)
        without = forgetful.find(crid, NothingSeen())
        assert [i.shipment_id for i in with_memory] == [i.shipment_id for i in without]
        assert with_memory == without
    assert remembering.reads["details"] == len(remembering.crids)


def test_a_created_shipment_is_remembered_and_a_broken_memory_never_fails_the_purchase() -> None:
    carrier = Carrier(["A-1", "B-1"])
    seen = SeenInMemory()
    info = carrier.read_info(f"{BASE}101")
    assert info is not None
    remember_created(seen, References("B", "B-1"), info)
    carrier.reads.clear()
    assert [i.shipment_id for i in carrier.find("B-1", seen)] == ["101"]
    assert carrier.reads == {"info": 2, "details": 1}  # A read in full once; B, remembered, only re-read

    class Broken(SeenInMemory):
        def remember(self, shipments):
            raise OSError("database gone")

    remember_created(Broken(), References("B", "B-1"), info)  # logs, does not raise
