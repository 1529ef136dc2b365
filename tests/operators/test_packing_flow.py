"""Packing and tracking together (issue 12 items 1, 2): packing at any moment never strands an order;
with the pack gate on tracking waits for the parcel to be packed, with it off it does not.

Real operators against the sandbox over HTTP; packing through the store as the station does."""

from __future__ import annotations

import pytest

from orderflow import lifecycle
from orderflow.operators import AcceptOrdersOperator, BuyLabelsOperator, IngestOrdersOperator, PushTrackingOperator
from tests.operators._helpers import Env, run


def labelled(env: Env, n: int) -> list[str]:
    ids = env.sb.generate_orders(n)
    run(IngestOrdersOperator, run_id="manual__prep", task_id="ingest.fetch_orders")
    run(AcceptOrdersOperator, run_id="manual__prep", task_id="acceptance.accept_orders")
    env.sb.advance(5)
    run(BuyLabelsOperator, run_id="manual__prep", task_id="shipping.buy_labels")
    assert {env.statuses()[i] for i in ids} == {"label_created"}
    return ids


def pack(env: Env, order_id: str, *, gate: bool) -> None:
    env.store.complete_pack(order_id, packer="packer", override_reason="test: packed without scanning",
                            packable_statuses=lifecycle.packable_statuses(lifecycle.Flags(pack_gate=gate)))


def ship_confirmations(env: Env) -> dict[str, int]:
    return {oid: o["ship_confirmations"] for oid, o in env.sb.state("mirakl")["orders"].items()}


def test_a_parcel_packed_before_tracking_ships_with_the_gate_off(env: Env) -> None:
    packed, unpacked = labelled(env, 2)
    pack(env, packed, gate=False)

    run(PushTrackingOperator, run_id="manual__t", task_id="tracking.push_tracking")

    assert env.statuses()[packed] == env.statuses()[unpacked] == "shipped"
    assert ship_confirmations(env)[packed] == ship_confirmations(env)[unpacked] == 1


def test_with_the_gate_on_tracking_waits_for_the_packing(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDERFLOW_PACK_VERIFY_GATE", "true")
    first, second = labelled(env, 2)

    run(PushTrackingOperator, run_id="manual__t1", task_id="tracking.push_tracking")
    assert env.statuses()[first] == env.statuses()[second] == "label_created"
    assert not env.sb.calls("mirakl", "OR24")

    pack(env, first, gate=True)
    run(PushTrackingOperator, run_id="manual__t2", task_id="tracking.push_tracking")
    assert (env.statuses()[first], env.statuses()[second]) == ("shipped", "label_created")

    # Switched off between runs: the unpacked one ships, and packing it afterwards strands nothing.
    monkeypatch.setenv("ORDERFLOW_PACK_VERIFY_GATE", "false")
    run(PushTrackingOperator, run_id="manual__t3", task_id="tracking.push_tracking")
    assert env.statuses()[second] == "shipped"
    pack(env, second, gate=False)
    assert env.statuses()[second] == "shipped"
    assert ship_confirmations(env)[first] == ship_confirmations(env)[second] == 1
