"""Settings that change security are read from the environment only (issue 16 item 8).

Airflow Variables can be edited by any Op user in the UI; the deployment's environment cannot. The
tracking URL template is sent to customers (a Variable could point every customer at a phishing page),
the pack gate decides whether a parcel ships unverified, and the label folder is what the packing
station serves files from."""

from __future__ import annotations

import pytest

from orderflow import settings as settings_module
from orderflow.settings import Settings

HOSTILE = {
    "tracking_url_template": "https://phish.example/track?pin={pin}",
    "pack_verify_gate": "true",
    "label_dir": "/etc",
}


@pytest.fixture
def variables(monkeypatch):
    """Airflow Variables through Airflow's own lookup (the environment-variables secrets backend)."""
    monkeypatch.delenv("ORDERFLOW_SETTINGS_NO_VARIABLES", raising=False)
    for name in [*HOSTILE, "shop_name"]:
        monkeypatch.delenv(f"ORDERFLOW_{name.upper()}", raising=False)
    for name, value in HOSTILE.items():
        monkeypatch.setenv(f"AIRFLOW_VAR_ORDERFLOW_{name.upper()}", value)
    monkeypatch.setenv("AIRFLOW_VAR_ORDERFLOW_SHOP_NAME", "Shop From A Variable")
    return monkeypatch


def test_security_settings_ignore_airflow_variables(variables):
    loaded = Settings.load()
    defaults = Settings()
    assert loaded.shop_name == "Shop From A Variable"  # Variables still work for everyday settings
    assert loaded.tracking_url_template == defaults.tracking_url_template
    assert loaded.pack_verify_gate is False
    assert loaded.label_dir == ""
    assert set(HOSTILE) <= set(settings_module.ENV_ONLY)


def test_security_settings_come_from_the_environment(variables):
    variables.setenv("ORDERFLOW_TRACKING_URL_TEMPLATE", "https://www.canadapost-postescanada.ca/t/{pin}")
    variables.setenv("ORDERFLOW_PACK_VERIFY_GATE", "true")
    variables.setenv("ORDERFLOW_LABEL_DIR", "/srv/labels")
    loaded = Settings.load()
    assert loaded.tracking_url_template == "https://www.canadapost-postescanada.ca/t/{pin}"
    assert loaded.pack_verify_gate is True
    assert loaded.label_dir == "/srv/labels" and loaded.resolved_label_dir == "/srv/labels"
