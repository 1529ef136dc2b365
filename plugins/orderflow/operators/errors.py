"""What the steps make of an error: one classification, one permanent-error type, the task's errors.

Every step asks :func:`classify` what an exception means:

- ``"config"``: about the Connection (refused credentials, missing permission, a wrong URL the hook
  recognised and explained in ``connection_hint``): the step stops at once, no item moves, and the
  task fails with :func:`connection_failure`'s message naming the Connection to fix;
- ``"permanent"``: this item (an order, a shipment, a group, a message) cannot be settled by a retry
  (the API refused it, :class:`PermanentItemError`): the item is recorded failed, the batch goes on,
  the task ends failed listing the items;
- ``"transient"``: 429, 5xx, timeouts after the hooks' own retries, a broken 2xx body, anything
  else: the item stays where it was and the task retries.
"""

from __future__ import annotations

from typing import Any, Literal

from airflow.sdk.exceptions import AirflowException, AirflowFailException

Kind = Literal["config", "permanent", "transient"]
System = Literal["Mirakl", "Canada Post"]


class OrderflowTransientError(AirflowException):
    """Some items hit transient API errors and stayed where they were: retry the task."""


class ConfigurationError(AirflowFailException):
    """A problem no retry and no item can fix (credentials, permissions): stop the step."""


class ConnectionUnreachable(AirflowException):
    """The API's host could not be reached (DNS, refused): stop the step, move nothing, retry the task."""


class PermanentItemError(Exception):
    """This item (order, shipment, group, message) cannot be settled by a retry: it is recorded
    failed with ``reason`` and ``detail`` for a person; the other items go on."""

    def __init__(self, reason: str, **detail: Any) -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


def classify(exc: BaseException) -> Kind:
    """'config' (stop the step), 'permanent' (the item fails) or 'transient' (the item stays, the task
    retries): see the module docstring."""
    from orderflow.hooks.canadapost_errors import (
        CanadaPostAuthError,
        CanadaPostPermanentError,
        CanadaPostRetryableError,
    )
    from orderflow.hooks.mirakl_errors import (
        MiraklAuthenticationError,
        MiraklPermanentError,
        MiraklPermissionError,
        MiraklRetryableError,
    )

    if getattr(exc, "connection_hint", None) or isinstance(
        exc, MiraklAuthenticationError | MiraklPermissionError | CanadaPostAuthError
    ):
        return "config"
    if isinstance(exc, MiraklPermanentError | CanadaPostPermanentError | PermanentItemError):
        return "permanent"
    if isinstance(exc, MiraklRetryableError | CanadaPostRetryableError):
        return "transient"
    # MiraklResponseError (a 2xx with a broken body), a parser surprise: the next try may do better.
    return "transient"


def connection_failure(step: str, system: System, conn_id: str, exc: BaseException) -> AirflowException:
    """The task-level error for an error about a Connection: names the Connection and what to fix.

    Nothing moves: the caller raises this instead of recording anything for its items.
    """
    hint = getattr(exc, "connection_hint", None) or f"{system} refused our credentials"
    message = f"{step}: {system} connection {conn_id!r}: {hint} ({exc}); no order was moved"
    if getattr(exc, "may_have_been_applied", None) is False or type(exc).__name__ == "_NotSent":
        return ConnectionUnreachable(message + "; the task retries")
    return ConfigurationError(message + "; fix the Connection, then clear this task")


def triage(exc: BaseException, *, step: str, system: System, conn_id: str) -> Literal["permanent", "transient"]:
    """:func:`classify` for a step's API call: raises :func:`connection_failure` (from `exc`) for an
    error about the Connection, else says whether the item failed or stays."""
    kind = classify(exc)
    if kind == "config":
        raise connection_failure(step, system, conn_id, exc) from exc
    return kind


def error_detail(exc: BaseException) -> dict[str, Any]:
    """What a history row keeps of an API error: API, operation, HTTP status, codes, messages."""
    detail: dict[str, Any] = {"error": type(exc).__name__, "message": str(exc)[:1000]}
    status = getattr(exc, "status", None)
    if status is not None:
        detail["http_status"] = status
    operation = getattr(exc, "operation", None)
    if operation:
        detail["operation"] = operation
    codes = getattr(exc, "codes", None)
    if codes:
        detail["codes"] = list(codes)
    messages = getattr(exc, "messages", None)
    if messages:
        # Canada Post CarrierMessage list: the carrier's own words, for the person who fixes it.
        detail["carrier_messages"] = [{"code": m.code, "description": m.description} for m in messages]
    request_id = getattr(exc, "request_id", None)
    if request_id:
        detail["request_id"] = request_id
    return detail


def has_code(exc: BaseException, code: str) -> bool:
    """The API answered with this error code (Mirakl ``ORDER_INVALID_STATE`` and the like)."""
    return code in (getattr(exc, "codes", ()) or ())
