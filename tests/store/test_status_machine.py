"""Property tests of the status machine against the real database."""

from __future__ import annotations

import hypothesis.strategies as st
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from orderflow import lifecycle, status
from orderflow.hooks.mirakl_records import order_from_payload
from orderflow.store import OrderStore, TransitionRefused
from tests.store.conftest import make_payload

STATUSES = [s.value for s in status.OrderStatus]


def test_failed_states_return_to_their_input_state():
    for failed, target in status.RETRY_TARGET.items():
        assert status.is_allowed(failed.value, target.value)
    for final in status.FINAL_STATES:
        # Ended orders go nowhere; after the sale only after-sale statuses follow (issue 13).
        after = status.TRANSITIONS[final]
        assert after <= lifecycle.AFTER_SHIPPED if final in lifecycle.AFTER_SHIPPED else after == frozenset()


def test_stateful_machine(order_db_url):
    store = OrderStore(order_db_url)

    class OrderLifecycle(RuleBasedStateMachine):
        @initialize()
        def new_order(self):
            payload = make_payload()
            store.upsert_orders([order_from_payload(payload)])
            self.order_id = payload["order_id"]
            self.model: str | None = None
            self.rows = 0

        @rule(to_status=st.sampled_from(STATUSES))
        def attempt(self, to_status):
            allowed = status.is_allowed(self.model, to_status)
            try:
                store.record_transition(self.order_id, to_status)
            except TransitionRefused:
                assert not allowed
            else:
                assert allowed
                self.model = to_status
                self.rows += 1

        @invariant()
        def database_agrees(self):
            if not hasattr(self, "order_id"):
                return
            assert store.current_status(self.order_id) == self.model
            assert len(store.history(self.order_id)) == self.rows

    OrderLifecycle.TestCase.settings = settings(
        max_examples=25, stateful_step_count=12, deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    try:
        OrderLifecycle.TestCase().runTest()
    finally:
        store.close()
