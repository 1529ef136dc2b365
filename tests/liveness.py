"""Who serves an order, found by running the real code: the DAG's own step operators (their claim
of a seeded DB, through the real claim SQL), the void step's candidates query, the shipping step's
resume rule, the packing station's queue and the Grafana panels a person reads.

Used by tests/test_lifecycle_liveness.py (every seeded status and shipment pair, every settings
combination) and by the model-based test (every order and shipment row it produced).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from orderflow import lifecycle
from orderflow.operators.base import OrderStepOperator
from orderflow.store import OrderStore
from tests.person_views import seen_by_a_person

DAGS = Path(__file__).resolve().parents[1] / "dags"
PACKING_STATION = "page:packing station queue"

#: (order status, shipment status) pairs no code path writes: a shipment row is only ever written by
#: the shipping step for an order it claimed (``accepted``) and by the void step (ended orders), and
#: shipping records ``label_created`` only from the package's stored label. The liveness test shows
#: every other pair is served; the model-based test checks these never appear.
NEVER_PRODUCED: frozenset[tuple[str, str]] = frozenset(
    {(str(lifecycle.S.PENDING_ACCEPTANCE), str(h)) for h in lifecycle.MAY_HOLD_MONEY}
    | {(str(s), str(h)) for s in (lifecycle.S.LABEL_CREATED, lifecycle.S.PACKED, *sorted(lifecycle.AFTER_SHIPPED))
       for h in lifecycle.MAY_HOLD_MONEY - lifecycle.PRINTABLE}
)


def dag_order_steps() -> list[OrderStepOperator]:
    """The order-step tasks of the real core DAG (parsed from dags/)."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS))
    assert not bag.import_errors, bag.import_errors
    dag = bag.dags["orderflow_core"]
    return [t for t in dag.tasks if isinstance(t, OrderStepOperator)]


@dataclass
class Takes:
    """What each step would take right now: order ids per task, shipment rows of the void step."""

    orders: dict[str, set[str]] = field(default_factory=dict)
    claim_statuses: dict[str, set[str]] = field(default_factory=dict)
    void_rows: set[str] = field(default_factory=set)  # customer_request_ids

    def steps_taking(self, order_id: str) -> list[str]:
        return sorted(task for task, ids in self.orders.items() if order_id in ids)


@contextmanager
def _gate(flags: lifecycle.Flags) -> Iterator[None]:
    old = os.environ.get("ORDERFLOW_PACK_VERIFY_GATE")
    os.environ["ORDERFLOW_PACK_VERIFY_GATE"] = "true" if flags.pack_gate else "false"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("ORDERFLOW_PACK_VERIFY_GATE", None)
        else:
            os.environ["ORDERFLOW_PACK_VERIFY_GATE"] = old


def what_steps_take(steps: list[OrderStepOperator], flags: lifecycle.Flags, monkeypatch: Any) -> Takes:
    """Run each step for real under `flags`; its claims and void candidates (real SQL on the real DB)
    are recorded, then the step is handed nothing, so it calls no API for them and moves nothing."""
    takes = Takes()
    current: list[str] = [""]
    real_claim = OrderStore.claim_orders
    real_candidates = OrderStore.void_candidates

    def claim(self: OrderStore, status: Any, **kwargs: Any) -> list[str]:
        ids = real_claim(self, status, **kwargs)
        statuses = {status} if isinstance(status, str) else {str(s) for s in status}
        takes.claim_statuses.setdefault(current[0], set()).update(statuses)
        takes.orders.setdefault(current[0], set()).update(ids)
        return []

    def candidates(self: OrderStore, **kwargs: Any) -> list[Any]:
        rows = real_candidates(self, **{**kwargs, "limit": 10_000})
        takes.void_rows.update(r["customer_request_id"] for r in rows)
        takes.orders.setdefault(current[0], set()).update(r["order_id"] for r in rows)
        return []

    monkeypatch.setattr(OrderStore, "claim_orders", claim)
    monkeypatch.setattr(OrderStore, "void_candidates", candidates)
    try:
        with _gate(flags):
            for task in steps:
                current[0] = task.task_id
                takes.orders.setdefault(task.task_id, set())
                task.execute({"ti": SimpleNamespace(try_number=1), "run_id": "manual__liveness"})
    finally:
        monkeypatch.setattr(OrderStore, "claim_orders", real_claim)
        monkeypatch.setattr(OrderStore, "void_candidates", real_candidates)
    return takes


def shipping_task(steps: list[OrderStepOperator]) -> Any:
    from orderflow.operators import BuyLabelsOperator

    (task,) = [t for t in steps if isinstance(t, BuyLabelsOperator)]
    return task


def who_serves_order(db_url: str, store: OrderStore, takes: Takes, flags: lifecycle.Flags,
                     order_id: str, status: str) -> list[str]:
    """Steps that take the order, person's places that list it, the packing station if it queues it."""
    served = takes.steps_taking(order_id)
    served += seen_by_a_person(db_url, order_id, status)
    if order_id in {r["order_id"] for r in store.pack_queue(flags, limit=100_000)}:
        served.append(PACKING_STATION)
    return served


def who_handles_shipment(db_url: str, store: OrderStore, takes: Takes, flags: lifecycle.Flags,
                         steps: list[OrderStepOperator], row: dict[str, Any], status: str) -> list[str]:
    """Who takes care of a shipment row that may hold money, the order being in `status`."""
    order_id, crid = row["order_id"], row["customer_request_id"]
    handled = []
    if crid in takes.void_rows:
        handled.append("void step (void_candidates.sql)")
    shipping = shipping_task(steps)
    if order_id in takes.orders.get(shipping.task_id, set()):
        rows = store.shipments_for_order(order_id)
        _, resumed = shipping._package(order_id, rows)
        if resumed is not None and resumed["customer_request_id"] == crid:
            handled.append("shipping resumes it")
    if row["status"] in lifecycle.PRINTABLE:
        tracking = any(order_id in ids for task, ids in takes.orders.items() if task.startswith("tracking"))
        if row.get("pack_session_id") is None and order_id in {
                r["order_id"] for r in store.pack_queue(flags, limit=100_000)}:
            handled.append(f"the label of a parcel to pack ({PACKING_STATION})")
        if tracking:
            handled.append("the label tracking ships the parcel with")
        if row.get("pack_session_id") is not None and status in lifecycle.AFTER_SHIPPED:
            handled.append("the label of a packed parcel gone out")
    places = seen_by_a_person(db_url, order_id, status)
    if places:
        handled.append(f"a person ({', '.join(places)})")
    return handled
