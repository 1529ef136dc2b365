"""Mirakl seller API (Best Buy Canada Marketplace): the error tree, and the error for an answer.

Pure code, no I/O, beside the wire (:mod:`orderflow.hooks.mirakl_api`, :mod:`orderflow.hooks.mirakl_aftersale`)
and the I/O hook (:mod:`orderflow.hooks.mirakl`), as ``canadapost_errors`` is beside Canada Post's.

Error tree (stripe-like; every error carries ``status``, ``codes``, ``message``, ``request_id``,
``body`` and the Mirakl ``operation`` id)::

    MiraklError
    ├── MiraklRetryableError              429, 5xx, 408, connection errors, timeouts
    │   ├── MiraklRateLimitError          429 (``retry_after`` seconds)
    │   ├── MiraklServerError             5xx
    │   └── MiraklConnectionError         no HTTP answer (refused, reset, dropped)
    │       └── MiraklTimeoutError        connect or read timeout
    ├── MiraklResponseError               2xx whose body is not what the API documents
    └── MiraklPermanentError (+ AirflowFailException): no retry can fix it
        ├── MiraklBadRequestError         400 (invalid state, validation, unknown line ...)
        ├── MiraklAuthenticationError     401
        ├── MiraklPermissionError         403
        ├── MiraklNotFoundError           404
        └── MiraklValidationError         refused client-side before sending (bad arguments)

``MiraklResponseError`` is deliberately neither retried by the hook nor an ``AirflowFailException``:
a truncated body may be a transient proxy fault (Airflow's task retry may cure it), but the hook
must not silently loop on, or silently accept, a body it cannot trust.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from airflow.sdk.exceptions import AirflowFailException

__all__ = [
    "KNOWN_ERROR_CODES",
    "REQUEST_ID_HEADERS",
    "STATUS_TO_ERROR",
    "MiraklAuthenticationError",
    "MiraklBadRequestError",
    "MiraklConnectionError",
    "MiraklError",
    "MiraklNotFoundError",
    "MiraklPermanentError",
    "MiraklPermissionError",
    "MiraklRateLimitError",
    "MiraklResponseError",
    "MiraklRetryableError",
    "MiraklServerError",
    "MiraklTimeoutError",
    "MiraklValidationError",
    "error_class_for_status",
    "error_from_response",
    "request_id_from_headers",
]

# Documented OR21 error codes (OpenAPI "Error Codes" table). Other operations document none, so the
# parser also accepts any UPPER_SNAKE code found in a structured field (see _extract_codes).
KNOWN_ERROR_CODES = frozenset(
    {
        "ORDER_FULFILLED_UNAUTHORIZED",
        "ORDER_INVALID_STATE",
        "ORDER_LINE_ACCEPTANCE_DECISION_MISSING",
        "ORDER_LINE_DUPLICATE_ID",
        "ORDER_LINE_NOT_FOUND",
        "ORDER_LINE_NULL_ELEMENT",
        "ORDER_NOT_FOUND",
        "ORDER_PARTIAL_ACCEPTANCE_DISABLED",
        "VALIDATION_ERROR",
    }
)

# Headers a request id may come back in. Mirakl documents none (unconfirmed); these are the usual
# names behind load balancers and API gateways.
REQUEST_ID_HEADERS = ("X-Mirakl-Request-Id", "X-Request-Id", "X-Correlation-Id", "X-Amzn-Trace-Id")


# ------------------------------------------------------------------------------------------------
# Exceptions
# ------------------------------------------------------------------------------------------------
class MiraklError(Exception):
    """Any failure of a Mirakl call. ``str()`` carries ids and codes only, never the API key or PII.

    ``message`` is orderflow's own summary (ids, statuses, what went wrong on our side): it is part of
    ``str()``. Whatever the server wrote (``server_message``, the free text of its error answer, and
    ``body``, the raw answer) may echo a customer's message, name or address, so it is kept on the
    exception for a person debugging in a shell and never rendered by ``str()``/``repr()``: those reach
    retry logs, XCom ``reason`` fields and staff pages (issue 16 item 3, as ``CanadaPostError``).
    """

    def __init__(
        self,
        message: str,
        *,
        operation: str | None = None,
        status: int | None = None,
        codes: Sequence[str] = (),
        request_id: str | None = None,
        body: str | None = None,
        retry_after: float | None = None,
        server_message: str | None = None,
    ) -> None:
        self.message = message
        # The server's free text (its error answer's "message"...): never part of str().
        self.server_message = server_message
        self.operation = operation
        self.status = status
        self.codes: tuple[str, ...] = tuple(codes)
        self.request_id = request_id
        # Raw body, for debugging in a shell; not part of str() because it may echo customer data.
        self.body = body
        self.retry_after = retry_after
        # Set by the hook when this error answered a *retry* of a call whose earlier attempt may have
        # reached Mirakl (timeout, dropped connection, 5xx). E.g. ORDER_INVALID_STATE on a retried
        # OR21 usually means the first accept went through: callers should re-read the order's state.
        self.after_ambiguous_attempt = False
        # Set when the error is about the Connection (unreachable host, wrong base URL, refused key),
        # not about the order: what to fix, in words safe for a task log. The steps then stop and move
        # no order (see orderflow.operators.errors.connection_failure).
        self.connection_hint: str | None = None
        super().__init__(message)

    @property
    def code(self) -> str | None:
        """The first API error code, if Mirakl sent one."""
        return self.codes[0] if self.codes else None

    def has_code(self, code: str) -> bool:
        return code in self.codes

    def __str__(self) -> str:
        parts = [f"Mirakl {self.operation or 'call'}"]
        if self.status is not None:
            parts.append(f"HTTP {self.status}")
        if self.codes:
            parts.append("[" + ",".join(self.codes) + "]")
        text = " ".join(parts) + f": {self.message}"
        if self.request_id:
            text += f" (request id {self.request_id})"
        if self.after_ambiguous_attempt:
            text += " (after a retry: an earlier attempt may have been applied)"
        return text

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(operation={self.operation!r}, status={self.status!r}, "
            f"codes={self.codes!r}, request_id={self.request_id!r})"
        )


class MiraklRetryableError(MiraklError):
    """Transient: the same call may succeed later (429, 5xx, 408, connection trouble, timeouts).

    ``may_have_been_applied`` is True when the request may have reached Mirakl before failing (read
    timeout, dropped connection, 5xx): a non-idempotent call (a message POST) must not be re-sent
    blindly after such an error.
    """

    may_have_been_applied: bool = True


class MiraklRateLimitError(MiraklRetryableError):
    """HTTP 429; ``retry_after`` holds the server's ``Retry-After`` in seconds when given."""

    may_have_been_applied = False


class MiraklServerError(MiraklRetryableError):
    """HTTP 5xx."""


class MiraklConnectionError(MiraklRetryableError):
    """No HTTP answer: connection refused, reset or dropped."""


class MiraklTimeoutError(MiraklConnectionError):
    """Connect or read timeout."""


class MiraklResponseError(MiraklError):
    """A success status whose body is not what the API documents (bad JSON, missing ``orders`` ...)."""


class MiraklPermanentError(MiraklError, AirflowFailException):
    """No retry can fix this (400/401/403/404, invalid arguments): fail the task, do not retry it."""


class MiraklBadRequestError(MiraklPermanentError):
    """HTTP 400: a missing/bad parameter or an order not in the expected state."""


class MiraklAuthenticationError(MiraklPermanentError):
    """HTTP 401: missing or invalid API key."""


class MiraklPermissionError(MiraklPermanentError):
    """HTTP 403: the key's user lacks the role for this call (or another shop's order)."""


class MiraklNotFoundError(MiraklPermanentError):
    """HTTP 404: unknown order, thread or path."""


class MiraklValidationError(MiraklPermanentError, ValueError):
    """Arguments refused before sending (empty line list, too long a message ...)."""


# A status-to-exception table; statuses not listed fall back by class (4xx permanent, 5xx retryable).
STATUS_TO_ERROR: dict[int, type[MiraklError]] = {
    400: MiraklBadRequestError,
    401: MiraklAuthenticationError,
    403: MiraklPermissionError,
    404: MiraklNotFoundError,
    405: MiraklPermanentError,
    406: MiraklPermanentError,
    408: MiraklRetryableError,
    409: MiraklPermanentError,
    410: MiraklPermanentError,
    411: MiraklPermanentError,
    413: MiraklPermanentError,
    415: MiraklPermanentError,
    422: MiraklBadRequestError,
    429: MiraklRateLimitError,
}


def error_class_for_status(status: int) -> type[MiraklError]:
    if status in STATUS_TO_ERROR:
        return STATUS_TO_ERROR[status]
    if status >= 500:
        return MiraklServerError
    if status >= 400:
        return MiraklPermanentError
    # A 1xx/3xx/unexpected 2xx where an exact status was expected: the body cannot be trusted.
    return MiraklResponseError


_CODE_RE = re.compile(r"^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$")
_KNOWN_CODE_IN_TEXT_RE = re.compile(r"\b(" + "|".join(sorted(KNOWN_ERROR_CODES)) + r")\b")


def _extract_codes(payload: Any) -> list[str]:
    """API error codes from an error body, conservatively.

    Where Mirakl puts codes is unconfirmed, so look in the plausible places only: top-level
    ``code``/``error_code``/``error``, and the same keys inside a list under ``errors`` (or a list
    body). Values must look like codes (UPPER_SNAKE). Free text is scanned for the *documented* codes
    only, so a sentence never turns into a made-up code.
    """
    codes: list[str] = []

    def take(value: Any) -> None:
        if isinstance(value, str) and _CODE_RE.match(value) and value not in codes:
            codes.append(value)

    def scan_text(value: Any) -> None:
        if isinstance(value, str):
            for match in _KNOWN_CODE_IN_TEXT_RE.findall(value):
                if match not in codes:
                    codes.append(match)

    def visit(obj: Any) -> None:
        if isinstance(obj, Mapping):
            for key in ("code", "error_code", "error", "type"):
                take(obj.get(key))
            for key in ("message", "error_description", "detail", "description"):
                scan_text(obj.get(key))
            for key in ("errors", "error_details", "details"):
                nested = obj.get(key)
                if isinstance(nested, list):
                    for item in nested:
                        visit(item)
        elif isinstance(obj, list):
            for item in obj:
                visit(item)
        elif isinstance(obj, str):
            scan_text(obj)

    visit(payload)
    return codes


def _extract_message(payload: Any, fallback: str) -> str:
    if isinstance(payload, Mapping):
        for key in ("message", "error_description", "detail", "description", "error"):
            value = payload.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()
        errors = payload.get("errors")
        if isinstance(errors, list) and errors:
            return "; ".join(_extract_message(item, "") or str(item) for item in errors[:5])[:500]
    if isinstance(payload, list) and payload:
        return "; ".join(_extract_message(item, "") or str(item) for item in payload[:5])[:500]
    return fallback


def request_id_from_headers(headers: Mapping[str, str] | None) -> str | None:
    if not headers:
        return None
    lowered = {k.lower(): v for k, v in headers.items()}
    for name in REQUEST_ID_HEADERS:
        value = lowered.get(name.lower())
        if value:
            return value
    return None


def error_from_response(
    operation: str,
    status: int,
    text: str,
    headers: Mapping[str, str] | None = None,
    retry_after: float | None = None,
) -> MiraklError:
    """The exception for a non-success answer; codes and message parsed from the body when possible."""
    payload: Any = None
    if text and text.strip():
        try:
            payload = json.loads(text)
        except ValueError:
            payload = text.strip()
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = f"unexpected HTTP status {status}"
    server_message = _extract_message(payload, "") if payload is not None else ""
    if isinstance(payload, str):
        # A non-JSON error page (proxy HTML): keep a short prefix only, and say so in our summary.
        server_message = payload[:200]
        reason = f"{reason} (not a JSON error answer)"
    cls = error_class_for_status(status)
    err = cls(
        reason,
        operation=operation,
        status=status,
        codes=_extract_codes(payload),
        request_id=request_id_from_headers(headers),
        body=text[:10_000] if text else text,
        retry_after=retry_after,
        server_message=server_message[:1000] or None,
    )
    if status in (401, 403):
        err.connection_hint = (
            f"Mirakl refused the API key (HTTP {status}): check the Connection's password (shop API key) and shop_id"
        )
    elif status in (404, 405) and not isinstance(payload, dict):
        # Mirakl's own 404 (unknown order) is a JSON error object; a page that is not JSON comes from
        # some other server: the Connection's host does not point at the Mirakl API root.
        err.connection_hint = (
            f"HTTP {status} from a server that is not Mirakl's API: check the Connection's host (base URL, "
            "e.g. https://marketplace.bestbuy.ca, without /api)"
        )
    return err
