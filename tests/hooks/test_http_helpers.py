"""The transport helpers both hooks share (hooks/_http.py): backoff, connect-failure detection, base URLs.

Each copy these replaced handled one edge the other missed; both edges are pinned here.
"""

from __future__ import annotations

import random

import pytest
import requests
from urllib3.exceptions import (
    ConnectTimeoutError,
    MaxRetryError,
    NameResolutionError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
)

from orderflow.hooks._http import RetryPolicy, absolute_base_url, backoff, never_connected


# -- backoff -----------------------------------------------------------------------------------------
def test_backoff_is_half_fixed_half_jitter_and_capped():
    random.seed(3)
    policy = RetryPolicy(initial_wait=1.0, max_wait=5.0)
    for attempt, ceiling in ((1, 1.0), (2, 2.0), (3, 4.0), (4, 5.0), (9, 5.0)):
        waits = [backoff(policy, attempt) for _ in range(50)]
        assert all(ceiling / 2 <= w <= ceiling for w in waits), (attempt, waits)


def test_backoff_never_waits_less_than_the_servers_retry_after_even_above_max_wait():
    assert backoff(RetryPolicy(initial_wait=0.01, max_wait=1.0), 1, 7.0) == 7.0
    assert backoff(RetryPolicy(initial_wait=0.01, max_wait=1.0), 1, None) <= 0.01


# -- never_connected ---------------------------------------------------------------------------------
def _requests_shape(reason: Exception) -> requests.ConnectionError:
    """What requests raises: ConnectionError(MaxRetryError(reason=...)), no cause chain."""
    return requests.ConnectionError(MaxRetryError(None, "https://api.example/x", reason))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "reason",
    [
        NewConnectionError(None, "refused"),  # type: ignore[arg-type]
        NameResolutionError("api.example", None, OSError("no such host")),  # type: ignore[arg-type]
        ConnectTimeoutError("connect timed out"),
    ],
    ids=["refused", "dns", "connect-timeout"],
)
def test_requests_own_shape_max_retry_reason_is_a_connect_failure(reason):
    """The edge the Canada Post copy handled: the cause is MaxRetryError.reason in args[0] (the connect
    timeout included, which the Mirakl copy did not name)."""
    assert never_connected(_requests_shape(reason))


def test_a_cause_chained_further_down_is_found():
    """The edge the Mirakl copy handled: the refusal is in the cause chain, not in args[0]."""
    try:
        try:
            raise ConnectionRefusedError(111, "Connection refused")
        except ConnectionRefusedError as refused:
            raise requests.ConnectionError("wrapped") from refused
    except requests.ConnectionError as exc:
        assert never_connected(exc)
    wrapped_twice = requests.ConnectionError(OSError("outer"))
    wrapped_twice.args[0].__cause__ = NewConnectionError(None, "refused")  # type: ignore[arg-type]
    assert never_connected(wrapped_twice)


@pytest.mark.parametrize(
    "exc",
    [
        requests.ConnectionError(ProtocolError("Connection aborted.", ConnectionResetError(104, "reset"))),
        _requests_shape(ReadTimeoutError(None, "https://api.example/x", "read timed out")),  # type: ignore[arg-type]
        requests.ConnectionError(MaxRetryError(None, "https://api.example/x", None)),  # type: ignore[arg-type]
        requests.ConnectionError("no cause at all"),
    ],
    ids=["dropped", "read-timeout", "no-reason", "bare"],
)
def test_a_request_that_may_have_arrived_is_not_a_connect_failure(exc):
    assert not never_connected(exc)


def test_a_refusal_only_in_the_implicit_context_is_not_a_connect_failure():
    """A reset after the request was sent, raised while a (retry's) refusal was being handled: the
    refusal is only in __context__, and the reset request may have arrived."""
    try:
        try:
            raise ConnectionRefusedError(111, "Connection refused")
        except ConnectionRefusedError:
            raise requests.ConnectionError("Connection reset by peer after the request was sent")  # noqa: B904
    except requests.ConnectionError as exc:
        assert isinstance(exc.__context__, ConnectionRefusedError)
        assert not never_connected(exc)


def test_a_cause_cycle_ends():
    a, b = OSError("a"), OSError("b")
    a.__cause__, b.__cause__ = b, a
    assert not never_connected(a)


# -- absolute_base_url -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("host", "scheme", "port", "expected"),
    [
        ("api.example", None, None, "https://api.example"),
        ("api.example", "http", None, "http://api.example"),
        ("http://api.example", "https", None, "http://api.example"),  # the host's own scheme wins
        ("api.example/base/", None, 8443, "https://api.example:8443/base/"),
        ("https://api.example:9000/base", None, 8443, "https://api.example:9000/base"),  # its own port wins
        ("https://api.example?x=1", None, 8443, "https://api.example:8443?x=1"),
    ],
)
def test_absolute_base_url(host, scheme, port, expected):
    assert absolute_base_url(host, scheme=scheme, port=port) == expected
