"""Issue 18: the connection form's "Test" button (``test_connection()``) on both hooks, against the
sandboxes over real HTTP: success, wrong credentials, a wrong base URL and an unreachable host each
give a message that says what to fix; nothing is retried for minutes; nothing is bought.

Also: the typed form fields arrive in ``extra`` as JSON values of their schema type (numbers, objects,
``null`` for an empty field); the hooks read them and still read the JSON extras written by hand."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from orderflow.hooks.canadapost import CanadaPostHook
from orderflow.hooks.mirakl import MiraklHook
from sandbox.testing import SandboxHandle, running_sandbox
from tests.hooks._cp_fixtures import SENDER_EXTRAS


@pytest.fixture(scope="module")
def sb() -> Iterator[SandboxHandle]:
    with running_sandbox(seed=18, orders=1) as handle:
        yield handle


@pytest.fixture(autouse=True)
def _fresh_tokens() -> Iterator[None]:
    CanadaPostHook._tokens.clear()
    yield
    CanadaPostHook._tokens.clear()


def _closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"  # nothing listens there now: connection refused


def _mirakl(monkeypatch, sb: SandboxHandle, **overrides: Any) -> None:
    conn = {"conn_type": "mirakl", "host": sb.mirakl_url, "password": sb.mirakl_api_key,
            "extra": {"shop_id": sb.shop_id}}
    conn.update(overrides)
    monkeypatch.setenv("AIRFLOW_CONN_MIRAKL_DEFAULT", json.dumps(conn))


def _canadapost(monkeypatch, sb: SandboxHandle, api: str, **overrides: Any) -> None:
    conn = json.loads(sb.airflow_conn_uris()["canadapost_default"])
    conn["extra"].update(SENDER_EXTRAS, api=api)
    conn.update(overrides)
    monkeypatch.setenv("AIRFLOW_CONN_CANADAPOST_DEFAULT", json.dumps(conn))


def _test(hook: Any) -> tuple[bool, str]:
    started = time.monotonic()
    result = hook.test_connection()
    assert time.monotonic() - started < 30, "a connection test must answer while the user waits"
    return result


# -- Mirakl ------------------------------------------------------------------------------------------
def test_mirakl_success_names_what_was_proven(sb, monkeypatch):
    _mirakl(monkeypatch, sb)
    ok, message = _test(MiraklHook())
    assert ok, message
    assert message.startswith(f"Connected to Best Buy Marketplace (Mirakl) at {sb.mirakl_url}: the shop API key")


def test_mirakl_wrong_key_says_check_the_shop_api_key(sb, monkeypatch):
    _mirakl(monkeypatch, sb, password="not-the-key")
    before = len(sb.calls("mirakl", "SH21"))
    ok, message = _test(MiraklHook())
    assert not ok
    assert message.startswith("Best Buy Marketplace (Mirakl) refused the credentials (HTTP 401)")
    assert "check the Shop API key" in message and "not-the-key" not in message
    assert len(sb.calls("mirakl", "SH21")) == before + 1  # never retried


def test_mirakl_wrong_base_url_says_check_the_base_url(sb, monkeypatch):
    _mirakl(monkeypatch, sb, host=sb.mirakl_url + "/seller-portal")
    ok, message = _test(MiraklHook())
    assert not ok
    assert message.startswith(f"No Best Buy Marketplace (Mirakl) API at {sb.mirakl_url}/seller-portal")
    assert "check the Base URL" in message


def test_mirakl_unreachable_host_says_so(monkeypatch, sb):
    url = _closed_port_url()
    _mirakl(monkeypatch, sb, host=url)
    ok, message = _test(MiraklHook())
    assert not ok
    assert message.startswith(f"Cannot reach {url}")
    assert "connection refused" in message and "check the Base URL" in message


def test_mirakl_incomplete_connection_says_which_field(monkeypatch, sb):
    _mirakl(monkeypatch, sb, password=None)
    ok, message = _test(MiraklHook())
    assert not ok and message.startswith("The connection is incomplete") and "API key" in message


# -- Canada Post ------------------------------------------------------------------------------------
@pytest.mark.parametrize("api", ["portal", "xml"])
def test_canadapost_success(sb, monkeypatch, api):
    _canadapost(monkeypatch, sb, api)
    before = len(sb.calls("canadapost"))
    ok, message = _test(CanadaPostHook())
    assert ok, message
    transport = "Developer Portal" if api == "portal" else "XML gateway"
    assert message.startswith(f"Connected to Canada Post ({transport}) at {sb.canadapost_url}")
    calls = sb.calls("canadapost")[before:]
    assert calls and all(c.method == "GET" or "token" in c.path for c in calls)  # nothing bought
    if api == "portal":
        assert any("token" in c.path for c in calls)


@pytest.mark.parametrize("api", ["portal", "xml"])
def test_canadapost_wrong_password(sb, monkeypatch, api):
    _canadapost(monkeypatch, sb, api, password="wrong-password")
    ok, message = _test(CanadaPostHook())
    assert not ok
    assert message.startswith("Canada Post refused the credentials (HTTP 401)")
    field = "API user / client id and API password / client secret"
    assert f"check the {field}" in message and "wrong-password" not in message


@pytest.mark.parametrize("api", ["portal", "xml"])
def test_canadapost_wrong_base_url(sb, monkeypatch, api):
    _canadapost(monkeypatch, sb, api, host=sb.canadapost_url + "/elsewhere/")
    ok, message = _test(CanadaPostHook())
    assert not ok
    assert message.startswith("No Canada Post API at"), message
    assert "check the Base URL" in message


@pytest.mark.parametrize("api", ["portal", "xml"])
def test_canadapost_unreachable_host(sb, monkeypatch, api):
    url = _closed_port_url()
    _canadapost(monkeypatch, sb, api, host=url)
    ok, message = _test(CanadaPostHook())
    assert not ok
    assert message.startswith(f"Cannot reach {url}") and "connection refused" in message


def test_canadapost_incomplete_connection_says_which_field(sb, monkeypatch):
    _canadapost(monkeypatch, sb, "xml")
    conn = json.loads(__import__("os").environ["AIRFLOW_CONN_CANADAPOST_DEFAULT"])
    conn["extra"].pop("customer_number")
    monkeypatch.setenv("AIRFLOW_CONN_CANADAPOST_DEFAULT", json.dumps(conn))
    ok, message = _test(CanadaPostHook())
    assert not ok and message.startswith("The connection is incomplete") and "customer_number" in message


# -- typed form fields ------------------------------------------------------------------------------
def test_typed_form_values_and_empty_fields_are_read(sb, monkeypatch):
    """What Airflow's form stores: numbers as numbers, the rate-limit object as an object (or the JSON
    text a person typed), empty fields as null."""
    _mirakl(monkeypatch, sb, extra={"shop_id": sb.shop_id, "timeout": 12.5, "rate_limits": '{"OR21": 7}'})
    hook = MiraklHook()
    hook.get_conn()
    assert hook.timeout == (10.0, 12.5) and hook.rate_limits["OR21"] == 7 and hook.shop_id == sb.shop_id

    extra = {**json.loads(sb.airflow_conn_uris()["canadapost_default"])["extra"], **SENDER_EXTRAS,
             "api": None, "mobo": None, "sender_address_line_2": None, "encoding": None, "group_id": None,
             "nc_lookback_hours": 24, "rate_limits": '{"A": 100, "create": 20}', "language": None}
    _canadapost(monkeypatch, sb, "xml", extra=extra)
    config = CanadaPostHook().config
    assert config.api == "portal"  # null = from the host (a sandbox host is not soa-gw)
    assert config.shipper.mobo == config.shipper.customer_number and config.shipper.encoding == "PDF"
    assert config.group_strategy == "daily" and config.nc_lookback_hours == 24  # the default
    assert config.rate_limits["A"] == 100 and config.rate_limits["create"] == 20
    assert config.language == "en-CA"


def test_airflow_2_prefixed_form_extras_are_still_read(sb, monkeypatch):
    """Connections saved by Airflow 2's forms carry ``extra__<type>__<field>`` keys."""
    _mirakl(monkeypatch, sb, extra={"extra__mirakl__shop_id": str(sb.shop_id)})
    hook = MiraklHook()
    hook.get_conn()
    assert hook.shop_id == sb.shop_id


def test_bad_rate_limit_text_is_a_clear_error(sb, monkeypatch):
    extra = {**json.loads(sb.airflow_conn_uris()["canadapost_default"])["extra"], **SENDER_EXTRAS,
             "rate_limits": "A=100"}
    _canadapost(monkeypatch, sb, "xml", extra=extra)
    with pytest.raises(ValueError, match="rate_limits must be a JSON object"):
        CanadaPostHook().config  # noqa: B018


def test_canadapost_portal_test_after_a_secret_change_asks_for_a_new_token(sb, monkeypatch):
    """A token cached from the right secret must not make a test with a wrong one pass (one api-server
    process tests both, one after the other)."""
    _canadapost(monkeypatch, sb, "portal")
    assert _test(CanadaPostHook())[0]
    _canadapost(monkeypatch, sb, "portal", password="changed-secret")
    ok, message = _test(CanadaPostHook())
    assert not ok and message.startswith("Canada Post refused the credentials"), message
