"""Non-contract look-ups cost what they must (issue 12 item 9), counted at the sandbox's call log.

Canada Post's non-contract API has no look-up by customer-request-id: a doubt lists the window and
reads shipments. What a look-up read once is kept in our database (``canadapost_seen_shipments``),
so a later doubt in the same window reads only the shipments that are new since.
"""

from __future__ import annotations

import time

import pytest

from orderflow.hooks.canadapost import CanadaPostHook
from orderflow.operators import AcceptOrdersOperator, BuyLabelsOperator, IngestOrdersOperator
from orderflow.operators.carrier_cache import StoreSeenShipments
from orderflow.operators.errors import OrderflowTransientError
from sandbox.testing import SandboxHandle
from tests.hooks._cp_fixtures import shipment_request
from tests.operators._helpers import Env, connect, run

READS = ("get_nc_shipment", "get_nc_shipment_details")


def mark(sb: SandboxHandle) -> int:
    records = sb.server("canadapost").calls_since(0)
    return records[-1].index + 1 if records else 0


def gets(sb: SandboxHandle, since: int) -> dict[str, int]:
    """GETs per endpoint since ``since``. The sandbox logs a call just after answering it, so wait
    until the log stops growing (bounded) before counting."""
    deadline, last, stable = time.monotonic() + 3.0, -1, 0
    while time.monotonic() < deadline and stable < 3:
        records = sb.calls("canadapost", since=since)
        stable = stable + 1 if len(records) == last else 0
        last = len(records)
        time.sleep(0.02)
    out: dict[str, int] = {}
    for c in sb.calls("canadapost", since=since):
        if c.method == "GET":
            out[c.endpoint or c.path] = out.get(c.endpoint or c.path, 0) + 1
    return out


def nc_shipments(sb: SandboxHandle) -> dict[str, list[str]]:
    """Non-contract shipments at the sandbox by the customer-request-id stamped in their references."""
    out: dict[str, list[str]] = {}
    for sh in list(sb.canadapost.store.shipments.values()):
        if sh.kind == "noncontract":
            out.setdefault(sh.label["customer_ref_2"], []).append(sh.shipment_id)
    return out


@pytest.fixture
def nc_env(env: Env, monkeypatch: pytest.MonkeyPatch) -> Env:
    connect(env.sb, monkeypatch, "xml", contract_id="")  # non-contract shipping (XML gateway only)
    return env


def test_a_second_doubt_in_the_same_window_reads_only_the_new_shipments(nc_env: Env) -> None:
    env = nc_env

    def hook() -> CanadaPostHook:  # a new hook each time, as each task builds its own: memory is the DB
        return CanadaPostHook(nc_seen=StoreSeenShipments(env.store))

    def bought_elsewhere(crid: str) -> None:  # (or whose answer was lost): nothing of it remembered
        CanadaPostHook().create_shipment(shipment_request(crid), look_up_first=False)

    for i in range(6):
        bought_elsewhere(f"NC{i}-1")

    start = mark(env.sb)
    (first,) = hook().find_shipments(customer_request_id="NC2-1")
    assert gets(env.sb, start) == {"get_nc_shipments": 1, "get_nc_shipment": 6, "get_nc_shipment_details": 6}

    for i in (6, 7):
        bought_elsewhere(f"NC{i}-1")
    start = mark(env.sb)
    (new,) = hook().find_shipments(customer_request_id="NC7-1")
    # Only the two shipments bought since the first doubt are read.
    assert gets(env.sb, start) == {"get_nc_shipments": 1, "get_nc_shipment": 2, "get_nc_shipment_details": 2}

    start = mark(env.sb)
    (again,) = hook().find_shipments(customer_request_id="NC2-1")
    # Remembered, and it carries our id: read once more (still there?), its details never again.
    assert gets(env.sb, start) == {"get_nc_shipments": 1, "get_nc_shipment": 1}
    assert again.shipment_id == first.shipment_id and again.tracking_pin == first.tracking_pin
    assert new.customer_request_id == "NC7-1"
    with env.store.transaction() as cur:
        cur.execute("SELECT count(*) AS n FROM canadapost_seen_shipments")
        assert cur.fetchone()["n"] == 8


def test_a_shipment_the_hook_bought_is_remembered_from_its_create_answer(nc_env: Env) -> None:
    env = nc_env
    memory = StoreSeenShipments(env.store)
    bought = [CanadaPostHook(nc_seen=memory).create_shipment(shipment_request(f"OWN{i}-1"), look_up_first=False)
              for i in range(5)]
    start = mark(env.sb)
    (found,) = CanadaPostHook(nc_seen=memory).find_shipments(customer_request_id="OWN3-1")
    # Nothing to read but the match itself (is it still there?).
    assert gets(env.sb, start) == {"get_nc_shipments": 1, "get_nc_shipment": 1}
    assert (found.shipment_id, found.tracking_pin) == (bought[3].shipment_id, bought[3].tracking_pin)


def test_dropped_create_answers_read_each_shipment_in_full_once(nc_env: Env, monkeypatch) -> None:
    env = nc_env
    monkeypatch.setenv("ORDERFLOW_MAX_WORKERS", "1")  # one doubt at a time: nothing read twice in a race
    ids = env.sb.generate_orders(8)
    run(IngestOrdersOperator, run_id="manual__prep", task_id="ingest.fetch_orders")
    run(AcceptOrdersOperator, run_id="manual__prep", task_id="acceptance.accept_orders")
    env.sb.advance(5)
    # Every second create is bought, then its answer is lost: each is a doubt, settled by a look-up.
    env.sb.set_faults("canadapost", "create_nc_shipment", drop_rate=0.5)
    start = mark(env.sb)
    for try_number in range(1, 6):
        try:
            run(BuyLabelsOperator, run_id="scheduled__nc", try_number=try_number, task_id="shipping.buy_labels")
        except OrderflowTransientError:
            continue
        break
    env.sb.clear_faults()

    assert {env.statuses()[i] for i in ids} == {"label_created"}
    bought = nc_shipments(env.sb)
    assert {crid: len(s) for crid, s in bought.items()} == {f"{i}-1": 1 for i in ids}
    dropped = [c for c in env.sb.calls("canadapost", "create_nc_shipment", since=start) if c.outcome == "dropped"]
    assert dropped, "the test did not exercise a doubt"
    reads = gets(env.sb, start)
    # Only the shipments whose create answer was lost are ever read in full, each once, however
    # many doubts listed them; the others were remembered from their create answers.
    assert reads.get("get_nc_shipment_details", 0) <= len(dropped), reads
    assert reads.get("get_nc_shipment", 0) <= 2 * len(dropped), reads
