"""MiraklSettings.from_connection (orderflow.hooks.mirakl_settings): the Connection read once, pure.

The hook-level tests (test_mirakl.py, test_connection_test.py, test_config_secrets.py) go through
MiraklHook; these pin the settings object itself."""

from __future__ import annotations

import json

import pytest
from airflow.sdk import Connection

from orderflow.hooks import mirakl_api as wire
from orderflow.hooks.mirakl_errors import MiraklResponseError, MiraklValidationError
from orderflow.hooks.mirakl_settings import DEFAULT_RATE_LIMITS, DEFAULT_TIMEOUT, MiraklSettings

KEY = "mirakl-settings-key-5b1e"


def _conn(**fields: object) -> Connection:
    extra = fields.pop("extra", None)
    values = {"conn_id": "mirakl_default", "conn_type": "mirakl", "host": "https://marketplace.example",
              "password": KEY, **fields}
    return Connection(**values, extra=json.dumps(extra) if extra is not None else None)


def test_defaults_and_the_key_out_of_repr():
    config = MiraklSettings.from_connection(_conn())
    assert config.base_url == "https://marketplace.example" and config.api_key == KEY
    assert config.shop_id is None and config.timeout == DEFAULT_TIMEOUT
    assert config.rate_limits == DEFAULT_RATE_LIMITS and config.rate_limits is not DEFAULT_RATE_LIMITS
    assert KEY not in repr(config) and KEY not in str(config)


def test_base_url_scheme_port_and_trailing_slash():
    assert MiraklSettings.from_connection(_conn(host="marketplace.example/")).base_url == "https://marketplace.example"
    config = MiraklSettings.from_connection(_conn(host="127.0.0.1", schema="http", port=8080))
    assert config.base_url == "http://127.0.0.1:8080"
    assert MiraklSettings.from_connection(_conn(host="http://h:1", port=2)).base_url == "http://h:1"


def test_arguments_win_over_extras_and_prefixed_extras_are_read():
    conn = _conn(extra={"extra__mirakl__shop_id": "2001", "timeout": 5, "rate_limits": '{"OR21": 7, "OR23": 0}'})
    config = MiraklSettings.from_connection(conn, timeout=(1, 2), rate_limits={"OR21": 3})
    assert config.shop_id == 2001 and config.timeout == (1, 2)
    assert config.rate_limits["OR21"] == 3 and config.rate_limits["OR23"] is None
    assert MiraklSettings.from_connection(conn).timeout == (DEFAULT_TIMEOUT[0], 5.0)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"password": None}, "has no API key"),
        ({"host": None}, "has no host"),
        ({"extra": {"shop_id": "one"}}, "shop_id must be an integer"),
        ({"extra": {"timeout": "soon"}}, "timeout must be seconds"),
        ({"extra": {"rate_limits": "{not json"}}, "must be a JSON object"),
        ({"extra": {"rate_limits": {"OR99": 1}}}, "unknown rate limit key"),
        ({"extra": {"rate_limits": {"OR21": -1}}}, "must be >= 0"),
        ({"extra": {"rate_limits": {"OR21": "x"}}}, "number of calls per minute"),
    ],
)
def test_what_is_wrong_is_named(fields, message):
    with pytest.raises(MiraklValidationError, match=message) as caught:
        MiraklSettings.from_connection(_conn(**fields), conn_id="named_in_errors")
    assert KEY not in str(caught.value)


def test_errors_name_the_hook_conn_id():
    with pytest.raises(MiraklValidationError, match="'bestbuy'"):
        MiraklSettings.from_connection(_conn(password=""), conn_id="bestbuy")


# -- the wire's pagination guards and request kwargs (moved out of the hook) --------------------------
def test_page_tokens_refuse_a_loop():
    tokens = wire.PageTokens("RT11")
    tokens.follow("a")
    tokens.follow("b")
    with pytest.raises(MiraklResponseError, match="pagination loop"):
        tokens.follow("a")
    assert f"more than {wire.MAX_THREAD_PAGES} pages" in str(tokens.too_many())


def test_send_kwargs_per_body_kind():
    get = wire.build_list_carriers().send_kwargs(2001, (1.0, 2.0))
    assert get == {"params": {"shop_id": "2001"}, "timeout": (1.0, 2.0), "allow_redirects": False}
    assert wire.build_mark_shipped("1-A").send_kwargs(None, DEFAULT_TIMEOUT)["data"] == b""
    accept = wire.build_accept_order("1-A", ["1-A-1"]).send_kwargs(None, DEFAULT_TIMEOUT)
    assert accept["json"] == {"order_lines": [{"accepted": True, "id": "1-A-1"}]} and "data" not in accept
    (part,) = wire.build_reply_to_thread("th-1", "Hello there", "c-1").send_kwargs(None, DEFAULT_TIMEOUT)["files"]
    assert part[0] == "message_input" and part[1][0] is None and part[1][2] == "application/json"


def test_order_checks():
    order = {"order_id": "1-A", "order_state": "SHIPPED"}
    wire.check_order_state(order, None)
    wire.check_order_state(order, wire.state_filter(["SHIPPED", "SHIPPING"]))
    with pytest.raises(MiraklResponseError, match="outside the requested states"):
        wire.check_order_state(order, wire.state_filter("SHIPPING"))
    with pytest.raises(MiraklResponseError, match="not asked for"):
        wire.check_asked_for(order, {"2-A"})
    assert "sweep incomplete" in str(wire.incomplete_sweep(100, 250, 200, "rid-1"))
