"""Canada Post exception tree (stripe-python style: one small tree carrying status, codes and body).

::

    CanadaPostError
    ├── CanadaPostRetryableError            429, 5xx, 408, connection errors, timeouts, malformed bodies
    │   ├── CanadaPostThrottledError        429 or "Rejected by SLM Monitor" (wait >= 60 s)
    │   ├── _NotSent                        never connected: always safe to send again
    │   ├── _MalformedAnswer                a 2xx whose body is not what the call returns
    │   ├── _ArtifactNotReady               202: the label is still being rendered
    │   └── ShipmentOutcomeUnknown          a create-shipment whose outcome recovery could not settle
    │       └── CreateInDoubt               ... its look-up found nothing yet: wait, then look again
    └── CanadaPostPermanentError            (also AirflowFailException: no retry can fix it)
        ├── CanadaPostAuthError             401 / 403, AAxxx codes
        ├── CanadaPostForeignLinkError      an answer linked outside the Connection's host: not followed
        ├── CanadaPostNotFoundError         404
        │   └── VoidNotFound                void answered 404: NOT voided (unknown or already voided)
        ├── RefundRequired                  void refused with 8064 (already transmitted): request a refund
        ├── RefundAlreadyRequested          409 / 7292
        └── CanadaPostFieldMappingError     portal rejected a JSON field name: likely our mapping, not data

Messages are built from ids, HTTP status and carrier codes only: never keys, never addresses. The
carrier's ``description`` texts are kept in ``.messages`` (for ``label_failed`` history) but they can
echo input, so they are not put in ``str(exc)`` beyond the codes.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from airflow.sdk.exceptions import AirflowFailException

from orderflow.hooks.canadapost_model import CarrierMessage

# Canada Post says a throttled call gets "Rejected by SLM Monitor" (code "Server"); its HTTP status is
# unconfirmed, so the body text is what we look for.
SLM_MONITOR_TEXT = "rejected by slm monitor"
CODE_VOID_NEEDS_REFUND = "8064"
CODE_REFUND_EXISTS = "7292"


class CanadaPostError(Exception):
    """Any Canada Post failure.

    ``status`` is the HTTP status (None when no answer came), ``messages`` the carrier's
    ``CarrierMessage`` list, ``codes`` their codes, ``request_id`` our customer-request-id or the
    shipment id the call was about, ``body`` the first 2 kB of the answer.
    """

    def __init__(
        self,
        summary: str,
        *,
        status: int | None = None,
        messages: list[CarrierMessage] | None = None,
        request_id: str | None = None,
        body: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.summary = summary
        self.status = status
        self.messages: list[CarrierMessage] = list(messages or [])
        self.request_id = request_id
        self.body = body[:2048] if body else body
        self.retry_after = retry_after
        # Set when the error is about the Connection (unreachable host, wrong base URL, refused
        # credentials), not about the shipment: what to fix, safe for a task log. The steps then stop and
        # move no order (orderflow.operators.errors.connection_failure).
        self.connection_hint: str | None = None
        super().__init__(self._render())

    @property
    def codes(self) -> list[str]:
        return [m.code for m in self.messages]

    def _render(self) -> str:
        parts = [self.summary]
        if self.status is not None:
            parts.append(f"HTTP {self.status}")
        if self.messages:
            parts.append("codes " + ",".join(self.codes))
        if self.request_id:
            parts.append(f"request {self.request_id}")
        return " | ".join(parts)


class CanadaPostRetryableError(CanadaPostError):
    """Transient: the same call may succeed later (the order stays in its input state)."""


class CanadaPostThrottledError(CanadaPostRetryableError):
    """Over a throttle group's per-minute limit; Canada Post blocks for up to a minute."""


class ShipmentOutcomeUnknown(CanadaPostRetryableError):
    """A create-shipment may or may not have bought a label and recovery could not tell within its
    bounds. Leave the ``intent`` row; the next run looks the id up again before any POST."""


class CreateInDoubt(ShipmentOutcomeUnknown):
    """A create-shipment's answer was ambiguous (timeout, dropped connection, 5xx, malformed body) and
    the look-up right after found nothing. That proves nothing yet: Canada Post may still be
    processing the create, or its search may lag. No second POST was made; the caller waits
    ``create_recheck_seconds`` (a setting) before a look-up that finding nothing allows a new POST."""


class CanadaPostPermanentError(CanadaPostError, AirflowFailException):
    """No retry can fix it (validation, auth, refused address). ``messages`` carry the carrier's codes and
    descriptions for the ``*_failed`` history row."""


class CanadaPostForeignLinkError(CanadaPostPermanentError):
    """An answer linked outside the connection's own scheme and host: not followed, so the API
    credentials (Basic key pair or Bearer token) never leave for another server."""

    @classmethod
    def of(cls, op: str, url: str, base_url: str, ref: str | None) -> CanadaPostForeignLinkError:
        where = urlsplit(url)
        err = cls(f"{op}: Canada Post linked to {where.scheme}://{where.hostname}, not the Connection's host; "
                  "not followed (credentials go only to the Base URL)", request_id=ref)
        err.connection_hint = (f"Canada Post answered a link outside {base_url}: check that the Connection's "
                               "host (Base URL) is the one Canada Post's answers name")
        return err


class CanadaPostAuthError(CanadaPostPermanentError):
    """Wrong key pair, wrong host for the key, no mobo right (AA001..AA006, E002), 401/403."""


class CanadaPostNotFoundError(CanadaPostPermanentError):
    """404: unknown id, or a link past its 90 days or voided."""


class VoidNotFound(CanadaPostNotFoundError):
    """The void answered 404. The shipment was NOT voided by this call (unknown id or voided before)."""


class RefundRequired(CanadaPostPermanentError):
    """The shipment cannot be voided (transmitted: code 8064; or non-contract, which has no void):
    request a refund instead."""


class RefundAlreadyRequested(CanadaPostPermanentError):
    """409 / 7292: a refund was already requested for this shipment."""


class CanadaPostFieldMappingError(CanadaPostPermanentError):
    """The Developer Portal rejected a JSON field name. Our JSON names are derived from the XML v8
    schema (the portal's schema is behind a login), so this is most likely an orderflow field-mapping
    problem, not bad seller data."""


# Status → exception class. Anything absent: 5xx → retryable, other 4xx → permanent.
STATUS_EXCEPTIONS: dict[int, type[CanadaPostError]] = {
    400: CanadaPostPermanentError,
    401: CanadaPostAuthError,
    403: CanadaPostAuthError,
    404: CanadaPostNotFoundError,
    408: CanadaPostRetryableError,
    409: CanadaPostPermanentError,
    429: CanadaPostThrottledError,
    500: CanadaPostRetryableError,
    502: CanadaPostRetryableError,
    503: CanadaPostRetryableError,
    504: CanadaPostRetryableError,
}


def is_throttle_answer(messages: list[CarrierMessage], body: str | None) -> bool:
    text = (body or "").lower()
    if SLM_MONITOR_TEXT in text:
        return True
    return any(SLM_MONITOR_TEXT in m.description.lower() for m in messages)


def exception_for(status: int, messages: list[CarrierMessage], body: str | None) -> type[CanadaPostError]:
    """The exception class for an HTTP error answer (status-to-exception table plus carrier codes)."""
    if is_throttle_answer(messages, body):
        return CanadaPostThrottledError
    codes = {m.code for m in messages}
    if CODE_VOID_NEEDS_REFUND in codes:
        return RefundRequired
    if CODE_REFUND_EXISTS in codes:
        return RefundAlreadyRequested
    if any(c.startswith("AA00") for c in codes) or "E002" in codes:
        return CanadaPostAuthError
    if status in STATUS_EXCEPTIONS:
        return STATUS_EXCEPTIONS[status]
    if status >= 500:
        return CanadaPostRetryableError
    return CanadaPostPermanentError


def is_retryable(exc: BaseException) -> bool:
    return isinstance(exc, CanadaPostRetryableError)


# Raised inside the hook's layers (the wire, the sending). Their names are recorded in history rows
# (operators.errors.error_detail) and _NotSent is recognised by name there: they keep their names.
class _ArtifactNotReady(CanadaPostRetryableError):
    """202: the label is still being rendered."""


class _MalformedAnswer(CanadaPostRetryableError):
    """A 2xx whose body is not what the call returns (truncated, wrong document)."""


class _NotSent(CanadaPostRetryableError):
    """The request never reached the server (connect failure): always safe to send again."""

    def __init__(self, summary: str, **kwargs: Any) -> None:
        super().__init__(summary, **kwargs)
        self.connection_hint = ("could not connect to Canada Post (DNS, connection refused or connect timeout): "
                                "check the Connection's host and that it is reachable from the workers")


def create_not_processed(exc: BaseException | None) -> bool:
    """True for a create-shipment error that proves Canada Post did not act on the POST: throttled
    ("Rejected by SLM Monitor" / 429, refused before processing) or never sent (connect failure).
    Anything else retryable (read timeout, dropped connection, 5xx, malformed body) is ambiguous."""
    return isinstance(exc, CanadaPostThrottledError | _NotSent)
