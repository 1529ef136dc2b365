"""The status machine, re-exported from ``orderflow.lifecycle`` (where it is defined, once)."""

from orderflow.lifecycle import (
    FAILED_STATES,
    FINAL_STATES,
    RETRY_TARGET,
    TRANSITIONS,
    OrderStatus,
    S,
    TransitionRefused,
    all_transitions,
    check,
    is_allowed,
)

__all__ = [
    "FAILED_STATES",
    "FINAL_STATES",
    "RETRY_TARGET",
    "TRANSITIONS",
    "OrderStatus",
    "S",
    "TransitionRefused",
    "all_transitions",
    "check",
    "is_allowed",
]
