"""Helpers of the order-step tests: Airflow connections pointing at a sandbox, fast settings, the
demo catalog in the store, and running an operator the way a task runner does."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from orderflow.hooks._http import RateLimiter
from orderflow.hooks.canadapost import CanadaPostHook
from orderflow.store import OrderStore
from sandbox.catalog import PRODUCTS
from sandbox.testing import SandboxHandle

SENDER_EXTRAS: dict[str, str] = {
    "sender_name": "Shipping Desk",
    "sender_company": "Orderflow Demo Electronics",
    "sender_phone": "613 555 0100",
    "sender_address_line_1": "100 Bank St",
    "sender_city": "Ottawa",
    "sender_province": "ON",
    "sender_postal_code": "K1P 5N2",
}

# Settings for tests: short acceptance polls, no Airflow Variables (no task context here).
FAST_SETTINGS = {
    "ORDERFLOW_SETTINGS_NO_VARIABLES": "1",
    "ORDERFLOW_ACCEPTANCE_POLL_ATTEMPTS": "5",
    "ORDERFLOW_ACCEPTANCE_POLL_INTERVAL_SECONDS": "0.05",
    "ORDERFLOW_MAX_WORKERS": "4",
    "ORDERFLOW_BATCH_SIZE": "100",
    "ORDERFLOW_PACK_VERIFY_GATE": "false",
    # No recheck window for the steps' general tests: after an ambiguous create the order still waits
    # for the next try, which may POST at once. tests/operators/test_create_recheck.py sets a window.
    "ORDERFLOW_CREATE_RECHECK_SECONDS": "0",
}


def catalog_rows() -> list[dict[str, Any]]:
    """sandbox.catalog.PRODUCTS in the shape OrderStore.upsert_products takes."""
    return [
        {
            "sku": p["sku"],
            "name": p["name"],
            "weight_kg": p["weight_kg"],
            "dimensions_cm": {"length": p["length_cm"], "width": p["width_cm"], "height": p["height_cm"]},
            "components": p["components"],
        }
        for p in PRODUCTS
    ]


def connect(sb: SandboxHandle, monkeypatch: pytest.MonkeyPatch, api: str = "xml", **cp_extras: Any) -> None:
    """Point mirakl_default/canadapost_default at the sandbox (Canada Post over `api`)."""
    conns = sb.airflow_conn_uris()
    mirakl = json.loads(conns["mirakl_default"])
    # dag.test() runs many OR11 sweeps a minute in one process; production keeps once a minute.
    mirakl["extra"]["rate_limits"] = {"OR11_poll": 0}
    monkeypatch.setenv("AIRFLOW_CONN_MIRAKL_DEFAULT", json.dumps(mirakl))
    cp = json.loads(conns["canadapost_default"])
    cp["extra"].update(SENDER_EXTRAS, api=api, **cp_extras)
    monkeypatch.setenv("AIRFLOW_CONN_CANADAPOST_DEFAULT", json.dumps(cp))


@dataclass
class Env:
    sb: SandboxHandle
    store: OrderStore
    db_url: str
    label_dir: Path
    api: str

    def statuses(self) -> dict[str, str | None]:
        with self.store.transaction() as cur:
            cur.execute("SELECT order_id, current_status FROM orders ORDER BY order_id")
            return {r["order_id"]: r["current_status"] for r in cur.fetchall()}

    def count(self, status: str) -> int:
        return sum(1 for s in self.statuses().values() if s == status)

    def cp_state(self) -> dict[str, Any]:
        return self.sb.state("canadapost")

    def active_shipments(self) -> dict[str, list[str]]:
        return self.cp_state()["active_shipments_by_customer_request_id"]

    def all_shipments(self) -> dict[str, list[str]]:
        return self.cp_state()["shipments_by_customer_request_id"]

    def writes(self) -> dict[str, int]:
        """Write calls seen by both sandboxes so far, by endpoint."""
        write_endpoints = {"OR21", "OR23", "OR24", "OR29", "M12", "OR43"}
        out: dict[str, int] = {}
        for c in self.sb.calls("mirakl"):
            if c.endpoint in write_endpoints:
                out[c.endpoint] = out.get(c.endpoint, 0) + 1
        for c in self.sb.calls("canadapost"):
            if c.method in ("POST", "DELETE", "PUT") and c.endpoint != "oauth_token":
                out[c.endpoint] = out.get(c.endpoint, 0) + 1
        return out


def make_env(
    fresh_db: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sb: SandboxHandle, api: str = "xml"
) -> Env:
    monkeypatch.setenv("AIRFLOW_CONN_ORDERFLOW_DB", fresh_db)
    label_dir = tmp_path / "labels"
    monkeypatch.setenv("ORDERFLOW_LABEL_DIR", str(label_dir))
    for key, value in FAST_SETTINGS.items():
        monkeypatch.setenv(key, value)
    connect(sb, monkeypatch, api)
    RateLimiter.reset_all()
    CanadaPostHook._tokens.clear()
    store = OrderStore(fresh_db)
    store.upsert_products(catalog_rows())
    return Env(sb, store, fresh_db, label_dir, api)


def context(run_id: str = "manual__test", try_number: int = 1) -> dict[str, Any]:
    """What the operators read from an Airflow task context."""
    return {"ti": SimpleNamespace(try_number=try_number), "run_id": run_id}


def run(operator_cls: type, *, run_id: str = "manual__test", try_number: int = 1, task_id: str | None = None,
        **kwargs: Any) -> dict[str, Any]:
    op = operator_cls(task_id=task_id or operator_cls.__name__.lower(), **kwargs)
    return op.execute(context(run_id, try_number))


def history(store: OrderStore, order_id: str) -> list[dict[str, Any]]:
    return store.history(order_id)
