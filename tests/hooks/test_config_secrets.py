"""Secrets never show in a config object's repr (issue 16 item 4).

A repr ends up in tracebacks, debug logs, XCom reprs and task-instance logs; the secrets masker only
knows values it was told about, so the objects themselves must not print them.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import pkgutil
import re

import pytest

import orderflow
from orderflow.hooks.canadapost import CanadaPostHook
from orderflow.hooks.mirakl import MiraklHook
from tests.hooks._cp_fixtures import conn_json

CP_LOGIN = "cp-login-9f1e2d"
CP_SECRET = "cp-secret-4b7a0c55"
MIRAKL_KEY = "mirakl-key-77c1aa90"

# Field names that hold a credential, wherever a dataclass is declared in the package.
SECRET_FIELD = re.compile(r"(password|secret|api_key|apikey|access_token|private_key|^token$|^key$)")


@pytest.mark.parametrize("api", ["xml", "portal"])
def test_canada_post_config_repr_holds_no_credential(monkeypatch, api):
    monkeypatch.setenv(
        "AIRFLOW_CONN_CANADAPOST_DEFAULT",
        conn_json("https://soa-gw.canadapost.ca" if api == "xml" else "https://api.canadapost-postescanada.ca",
                  api=api, login=CP_LOGIN, password=CP_SECRET),
    )
    hook = CanadaPostHook()
    config = hook.config
    assert config.password == CP_SECRET  # built from them
    for text in (repr(config), str(config), repr(config.shipper), repr(hook), f"{config!r}"):
        assert CP_SECRET not in text, text
        assert CP_LOGIN not in text, text


def test_mirakl_hook_repr_holds_no_key(monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_MIRAKL_DEFAULT",
        json.dumps({"conn_type": "mirakl", "host": "https://marketplace.example", "password": MIRAKL_KEY,
                    "extra": {"shop_id": 2001}}),
    )
    hook = MiraklHook()
    hook.get_conn()
    assert MIRAKL_KEY not in repr(hook)
    assert MIRAKL_KEY not in repr(vars(hook).get("_config", None))


def test_settings_repr_holds_no_secret_field():
    from orderflow.settings import Settings

    assert not [f.name for f in dataclasses.fields(Settings) if SECRET_FIELD.search(f.name)]


def _package_dataclasses() -> list[type]:
    found: list[type] = []
    for info in pkgutil.walk_packages(orderflow.__path__, "orderflow."):
        if ".views" in info.name:  # importing the pages needs the api-server's app
            continue
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if isinstance(value, type) and dataclasses.is_dataclass(value) and value.__module__ == info.name:
                found.append(value)
    return found


def test_every_secret_field_of_every_dataclass_is_left_out_of_repr():
    """Covers config objects added later (new hook modules): a credential field must say repr=False."""
    classes = _package_dataclasses()
    assert any(c.__name__ == "CanadaPostSettings" for c in classes)
    leaks = [
        f"{c.__module__}.{c.__qualname__}.{f.name}"
        for c in classes
        for f in dataclasses.fields(c)
        if SECRET_FIELD.search(f.name.lower()) and f.repr
    ]
    assert leaks == []
