"""What the connection form's "Test" button says (``test_connection()`` of both hooks).

Airflow shows the message of ``test_connection()`` next to the button, to a person filling in the
form: it must say what is wrong in the form's own words (the field labels of
orderflow.hooks.connection_forms) and never make them wait through minutes of retries. The test runs
one attempt (:data:`QUICK_RETRY`); its failure is one of:

- the connection is incomplete (a required field is empty or malformed: nothing was sent);
- the host cannot be reached (DNS, connection refused, TLS, timeout);
- the credentials were refused (HTTP 401/403, a refused portal token request);
- there is no such API at the base URL (HTTP 404/405, or an answer that is not the API's);
- anything else the API answered, with its status and codes.

Pure functions over the hooks' exceptions; no I/O.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Any

import requests
import urllib3.exceptions

from orderflow.hooks._http import RetryPolicy

# One attempt, bounded: a person is waiting for the answer.
QUICK_RETRY = RetryPolicy(max_attempts=1, max_total_seconds=20.0)


@dataclass(frozen=True)
class System:
    name: str
    credentials: str       # the form's labels of the credential fields
    example_base_url: str


MIRAKL = System("Best Buy Marketplace (Mirakl)", "Shop API key", "https://marketplace.bestbuy.ca")
CANADAPOST = System(
    "Canada Post",
    "API user / client id and API password / client secret",
    "https://api.canadapost-postescanada.ca/prod/devportal-portaildesdeveloppeurs/ or https://soa-gw.canadapost.ca",
)


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception, its causes and contexts, and what urllib3/requests wrap inside their args."""
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo and len(seen) < 20:
        current = todo.pop(0)
        if current is None or any(current is s for s in seen):
            continue
        seen.append(current)
        todo.extend([current.__cause__, current.__context__, getattr(current, "reason", None)])
        todo.extend(a for a in current.args if isinstance(a, BaseException))
    return seen


def unreachable_reason(exc: BaseException) -> str | None:
    """Why no answer came (``None`` when one did)."""
    chain = _chain(exc)
    if any(isinstance(e, urllib3.exceptions.NameResolutionError | socket.gaierror) for e in chain):
        return "host name not found"
    if any(isinstance(e, ConnectionRefusedError) for e in chain):
        return "connection refused"
    if any(isinstance(e, requests.exceptions.SSLError | urllib3.exceptions.SSLError) for e in chain):
        return "TLS handshake failed"
    if any(isinstance(e, requests.ConnectTimeout | urllib3.exceptions.ConnectTimeoutError) for e in chain):
        return "connect timed out"
    if any(isinstance(e, requests.Timeout | TimeoutError | urllib3.exceptions.ReadTimeoutError) for e in chain):
        return "no answer in time"
    if any(isinstance(e, requests.ConnectionError | urllib3.exceptions.NewConnectionError) for e in chain):
        return "connection failed"
    return None


def explain_failure(system: System, base_url: str | None, exc: BaseException) -> str:
    """The one-line message for a failed connection test."""
    detail = str(exc) or type(exc).__name__
    where = base_url or "the Base URL"
    status = getattr(exc, "status", None)
    if status is None and isinstance(exc, ValueError | KeyError):
        return f"The connection is incomplete: {detail}"
    reason = unreachable_reason(exc) if status is None else None
    if reason:
        return (f"Cannot reach {where} ({reason}): check the Base URL and that this Airflow host can reach it "
                f"[{detail}]")
    if status in (401, 403) or (status == 400 and "token" in detail):
        return f"{system.name} refused the credentials (HTTP {status}): check the {system.credentials} [{detail}]"
    if status in (404, 405) or (isinstance(status, int) and 200 <= status < 300):
        return (f"No {system.name} API at {where} (HTTP {status}): check the Base URL, e.g. "
                f"{system.example_base_url} [{detail}]")
    return f"{system.name} answered with an error{f' (HTTP {status})' if status else ''}: {detail}"


def canadapost_success(config: Any) -> str:
    """What a passed Canada Post test proved, per transport."""
    customer = config.shipper.customer_number
    if config.api == "portal":
        proof = (f"a token was issued for the client id and a shipment look-up for customer {customer} "
                 "was answered")
        transport = "Developer Portal"
    else:
        proof = f"the API key pair and customer {customer} were accepted by a shipment look-up"
        transport = "XML gateway"
    return f"Connected to Canada Post ({transport}) at {config.base_url}: {proof}"
