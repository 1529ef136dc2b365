"""The liveness of the lifecycle, from the code that runs (issue 12): no order falls between the
steps, no paid label is left unaccounted for.

For every settings combination (``lifecycle.SETTINGS_COMBINATIONS``), a fresh DB is seeded with an
order in every status (walked through the real status machine), alone and with a shipment row in
every status that may hold money, its parcel packed or not. The DAG's own step tasks then run
against it for real, with their claims and void candidates recorded (the real SQL; the steps are
then handed nothing). The checks:

- every non-terminal order (those ingest first saw in each Mirakl state, documented or not,
  included; an order without a status is stranded) is taken by some step, or listed where a person looks (the panel that
  ``PERSON_STATES`` names, its SQL run against the DB), or queued at the packing station;
- every shipment row that may hold money, whatever the order's status (``canceled`` included), is
  taken by the void step, resumed by the shipping step, the label of a parcel still to pack or
  packed and on its way, or in front of a person; the only exceptions are the pairs no code writes
  (``tests.liveness.NEVER_PRODUCED``, checked by the model-based test).
"""

from __future__ import annotations

import pytest

from orderflow import lifecycle
from orderflow.operators import IngestOrdersOperator
from sandbox.testing import running_sandbox
from tests.lifecycle_seed import seed_order
from tests.liveness import NEVER_PRODUCED, dag_order_steps, what_steps_take, who_handles_shipment, who_serves_order
from tests.operators._helpers import make_env, run

S, SH = lifecycle.S, lifecycle.SH


@pytest.fixture(scope="module")
def steps():
    return dag_order_steps()


@pytest.fixture
def seeded(fresh_db, monkeypatch, tmp_path):
    with running_sandbox(seed=3) as sb:
        env = make_env(fresh_db, monkeypatch, tmp_path, sb)
        orders: dict[str, tuple[str, str | None, bool]] = {}
        for status in lifecycle.OrderStatus:
            oid = f"{status}-none"
            seed_order(env.store, oid, status)
            orders[oid] = (str(status), None, False)
            for held in sorted(lifecycle.MAY_HOLD_MONEY):
                for packed in ((False, True) if held in lifecycle.PRINTABLE else (False,)):
                    oid = f"{status}-{held}{'-packed' if packed else ''}"
                    seed_order(env.store, oid, status, shipment=held, packed=packed)
                    orders[oid] = (str(status), str(held), packed)
        # Orders ingest first sees in every state Best Buy documents, and in one it does not (the
        # real ingest step over HTTP gives them their first status: item 7).
        first_seen = sb.generate_orders(len(lifecycle.MiraklState) + 1)
        service = sb.mirakl
        with service.lock:
            for order_id, state in zip(first_seen, [*lifecycle.MiraklState, "ON_HOLD"], strict=True):
                service._set_state(service.orders[order_id], str(state), service.now())
        run(IngestOrdersOperator, run_id="manual__first_seen", task_id="ingest.fetch_orders")
        for order_id in first_seen:
            orders[order_id] = (env.statuses()[order_id], None, False)
        yield env, orders
        env.store.close()


@pytest.mark.parametrize("flags", lifecycle.SETTINGS_COMBINATIONS, ids=lambda f: f"pack_gate={f.pack_gate}")
def test_every_open_order_and_every_paid_label_is_served(seeded, steps, flags, monkeypatch):
    env, orders = seeded
    before = env.statuses()
    takes = what_steps_take(steps, flags, monkeypatch)
    assert env.statuses() == before  # the steps were handed nothing: nothing moved

    stranded = []
    for oid, status in sorted(env.statuses().items()):  # every order in the DB, the first-seen ones too
        if status is not None and lifecycle.OrderStatus(status) in lifecycle.TERMINAL:
            continue
        if status is None or not who_serves_order(env.db_url, env.store, takes, flags, oid, status):
            stranded.append(f"{oid}: {status} (claims: {takes.claim_statuses})")
    assert stranded == [], "orders no step, page or panel serves:\n" + "\n".join(stranded)

    unaccounted = []
    for oid, (status, held, _) in sorted(orders.items()):
        if held is None or (status, held) in NEVER_PRODUCED:
            continue
        (row,) = env.store.shipments_for_order(oid)
        if not who_handles_shipment(env.db_url, env.store, takes, flags, steps, row, status):
            unaccounted.append(f"{oid}: order {status}, shipment {held}")
    assert unaccounted == [], "shipment rows that may hold money nobody takes:\n" + "\n".join(unaccounted)
    # Every ended order's money is the void step's, intent included.
    for oid, (status, held, _) in orders.items():
        if held is not None and lifecycle.OrderStatus(status) in lifecycle.ENDED:
            assert f"{oid}-1" in takes.void_rows, oid
