"""The order status machine: one small table of allowed transitions.

The same table lives in the database (status_transitions, migration 001) where a trigger checks
every history insert; tests assert the two are equal. This module is the readable copy, used to
refuse a transition before any SQL runs and by the property tests.
"""

from __future__ import annotations

from enum import StrEnum


class OrderStatus(StrEnum):
    PENDING_ACCEPTANCE = "pending_acceptance"
    ACCEPTED = "accepted"
    ACCEPTANCE_FAILED = "acceptance_failed"
    REFUSED = "refused"
    CANCELED = "canceled"
    LABEL_CREATED = "label_created"
    LABEL_FAILED = "label_failed"
    PACKED = "packed"
    SHIPPED = "shipped"
    TRACKING_FAILED = "tracking_failed"


S = OrderStatus

# from-status -> allowed to-statuses. None is "the order has no history yet".
TRANSITIONS: dict[OrderStatus | None, frozenset[OrderStatus]] = {
    None: frozenset({S.PENDING_ACCEPTANCE, S.ACCEPTED, S.CANCELED, S.REFUSED}),
    S.PENDING_ACCEPTANCE: frozenset({S.ACCEPTED, S.ACCEPTANCE_FAILED, S.REFUSED, S.CANCELED}),
    S.ACCEPTED: frozenset({S.LABEL_CREATED, S.LABEL_FAILED, S.CANCELED}),
    # A label bought for an order Best Buy then cancels is voided (or refunded) by the
    # shipping.void_canceled_labels task; the order still has to be able to say "canceled".
    S.LABEL_CREATED: frozenset({S.PACKED, S.SHIPPED, S.TRACKING_FAILED, S.CANCELED}),
    S.PACKED: frozenset({S.SHIPPED, S.TRACKING_FAILED, S.CANCELED}),
    # *_failed goes back to its input state when a person retries it (or ends canceled).
    S.ACCEPTANCE_FAILED: frozenset({S.PENDING_ACCEPTANCE, S.CANCELED, S.REFUSED}),
    S.LABEL_FAILED: frozenset({S.ACCEPTED, S.CANCELED}),
    S.TRACKING_FAILED: frozenset({S.LABEL_CREATED, S.PACKED, S.CANCELED}),
    S.REFUSED: frozenset(),
    S.CANCELED: frozenset(),
    S.SHIPPED: frozenset(),
}

FAILED_STATES = frozenset({S.ACCEPTANCE_FAILED, S.LABEL_FAILED, S.TRACKING_FAILED})
FINAL_STATES = frozenset({S.REFUSED, S.CANCELED, S.SHIPPED})

# The input state each failure goes back to when a person retries it.
RETRY_TARGET: dict[OrderStatus, OrderStatus] = {
    S.ACCEPTANCE_FAILED: S.PENDING_ACCEPTANCE,
    S.LABEL_FAILED: S.ACCEPTED,
    S.TRACKING_FAILED: S.LABEL_CREATED,
}


class TransitionRefused(ValueError):
    """A status change the machine does not allow; nothing was written."""

    def __init__(self, order_id: str, from_status: str | None, to_status: str) -> None:
        self.order_id = order_id
        self.from_status = from_status
        self.to_status = to_status
        super().__init__(
            f"order {order_id}: transition {from_status or '(new)'} -> {to_status} is not allowed"
        )


def is_allowed(from_status: str | None, to_status: str) -> bool:
    try:
        source = OrderStatus(from_status) if from_status is not None else None
        target = OrderStatus(to_status)
    except ValueError:
        return False
    return target in TRANSITIONS[source]


def check(order_id: str, from_status: str | None, to_status: str) -> None:
    if not is_allowed(from_status, to_status):
        raise TransitionRefused(order_id, from_status, to_status)


def all_transitions() -> set[tuple[str | None, str]]:
    return {
        (None if src is None else src.value, dst.value)
        for src, targets in TRANSITIONS.items()
        for dst in targets
    }
