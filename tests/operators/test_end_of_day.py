"""The Canada Post close of day (issue 14) against the sandbox over HTTP and a fresh PostgreSQL order DB,
on both transports: daily groups by the cut-off, a transmit whose answer is dropped after the sandbox
committed, re-runs, voids that follow the manifest, and a label bought while a create of the group
is still in flight. Canada Post's side is read from the sandbox's own state and call log.

The cut-off is moved by the settings (as a seller would), in a time zone where it is now midday, so
"before" and "after" the cut-off are the same local day whatever the hour the suite runs.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests

from orderflow.hooks.canadapost import CanadaPostHook
from orderflow.label_store import label_matches
from orderflow.operators import (
    AcceptOrdersOperator,
    BuyLabelsOperator,
    CloseDayOperator,
    IngestOrdersOperator,
    VoidCanceledLabelsOperator,
)
from orderflow.operators.end_of_day import DayCloser
from orderflow.operators.errors import OrderflowTransientError
from orderflow.operators.step import StepResult
from orderflow.settings import Settings
from sandbox.testing import running_sandbox
from tests.operators._helpers import Env, connect, make_env, run

REFUND_EMAIL = "refunds@example.ca"
EOD_TASK = "close_day"


def midday_zone() -> str:
    offset = 12 - datetime.now(UTC).hour
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}"


class Day:
    """The seller's clock settings for the test: every day a mailing day, the cut-off movable."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.monkeypatch = monkeypatch
        self.tz = ZoneInfo(midday_zone())
        monkeypatch.setenv("ORDERFLOW_EOD_TIMEZONE", midday_zone())
        monkeypatch.setenv("ORDERFLOW_MAILING_DAYS", "[0, 1, 2, 3, 4, 5, 6]")
        monkeypatch.setenv("ORDERFLOW_EOD_IN_FLIGHT_WAIT_SECONDS", "0")
        self.before_cutoff()

    @property
    def today(self) -> str:
        return datetime.now(self.tz).strftime("%Y%m%d")

    @property
    def tomorrow(self) -> str:
        return (datetime.now(self.tz) + timedelta(days=1)).strftime("%Y%m%d")

    def before_cutoff(self) -> None:
        self._cutoff(timedelta(hours=2))

    def after_cutoff(self) -> None:
        self._cutoff(-timedelta(minutes=2))

    def _cutoff(self, from_now: timedelta) -> None:
        self.monkeypatch.setenv("ORDERFLOW_EOD_CUTOFF", (datetime.now(self.tz) + from_now).strftime("%H:%M"))


@pytest.fixture(params=["xml", "portal"])
def env(request, fresh_db, monkeypatch, tmp_path) -> Iterator[Env]:
    with running_sandbox(seed=44, debit_delay=0.0) as sb:
        e = make_env(fresh_db, monkeypatch, tmp_path, sb, api=request.param)
        connect(sb, monkeypatch, request.param, refund_email=REFUND_EMAIL)  # group_id: the default (daily)
        yield e
        e.store.close()


@pytest.fixture
def day(monkeypatch) -> Day:
    return Day(monkeypatch)


def labelled(env: Env, n: int, run_id: str) -> list[str]:
    ids = env.sb.generate_orders(n)
    run(IngestOrdersOperator, run_id=run_id, task_id="ingest.fetch_orders")
    run(AcceptOrdersOperator, run_id=run_id, task_id="acceptance.accept_orders")
    env.sb.advance(5)
    run(BuyLabelsOperator, run_id=run_id, task_id="shipping.buy_labels")
    assert {env.statuses()[i] for i in ids} == {"label_created"}
    return ids


def row(env: Env, order_id: str) -> dict[str, Any]:
    return env.store.shipments_for_order(order_id)[0]  # package 1


def sandbox_manifests(env: Env) -> list[Any]:
    return list(env.sb.canadapost.store.manifests.values())


def at_carrier(env: Env, order_id: str) -> dict[str, Any]:
    answer = requests.get(f"{env.sb.canadapost_url}/__admin/shipments",
                          params={"customer_request_id": f"{order_id}-1"}, timeout=5)
    (found,) = answer.json()["shipments"]
    return found


def calls(env: Env, endpoint: str) -> int:
    return len(env.sb.calls("canadapost", endpoint))


def db(env: Env, sql: str, *params: Any) -> list[dict[str, Any]]:
    with env.store.transaction() as cur:
        cur.execute(sql, params)
        return [dict(r) for r in cur.fetchall()]


# --------------------------------------------------------------------------------------------


def test_a_day_of_labels_a_cutoff_a_dropped_transmit_and_a_rerun(env: Env, day: Day) -> None:
    the_day = labelled(env, 3, "manual__morning")
    group = f"{day.today}-1"
    assert {row(env, o)["group_id"] for o in the_day} == {group}
    assert {at_carrier(env, o)["group_id"] for o in the_day} == {group}  # Canada Post holds them grouped

    day.after_cutoff()
    (late,) = labelled(env, 1, "manual__evening")
    assert row(env, late)["group_id"] == f"{day.tomorrow}-1"  # bought after the cut-off: next day's group

    env.sb.set_faults("canadapost", "transmit_shipments", drop_rate=1, count=1)  # commit, then no answer
    summary = run(CloseDayOperator, run_id="scheduled__eod1", task_id=EOD_TASK)
    assert summary["recorded"] == {"transmitted": 1, "stored": 1}
    assert calls(env, "transmit_shipments") == 1  # the doubt was settled by reading back, not re-sending

    # A re-run (and another): nothing is transmitted again.
    for run_id in ("scheduled__eod2", "manual__eod3"):
        again = run(CloseDayOperator, run_id=run_id, task_id=EOD_TASK)
        assert again["recorded"] == {} and "CP_transmit" not in again["calls"]
    assert calls(env, "transmit_shipments") == 1

    (manifest,) = sandbox_manifests(env)  # exactly one manifest for the group at Canada Post
    assert manifest.group_ids == [group]
    ours = {row(env, o)["shipment_id"] for o in the_day}
    assert set(manifest.shipment_ids) == ours  # every label of the day in it; the late one is not
    (stored,) = db(env, "SELECT * FROM manifests")
    assert stored["manifest_id"] == manifest.manifest_id and stored["group_id"] == group
    assert stored["found_by"] == "read back by date" and stored["shipment_count"] == 3
    assert stored["status"] == "stored" and label_matches(stored["pdf_path"], stored["pdf_sha256"])[0]
    assert Path(stored["pdf_path"]).parent.name == "manifests"
    assert {row(env, o)["manifest_row_id"] for o in the_day} == {stored["id"]}
    assert row(env, late)["manifest_row_id"] is None
    groups = {g["group_id"]: g for g in db(env, "SELECT * FROM shipping_groups")}
    assert groups[group]["status"] == "transmitted" and groups[group]["transmit_attempts"] == 1
    assert groups[group]["detail"]["how"].startswith("read back")
    assert groups[f"{day.tomorrow}-1"]["status"] == "open"
    assert at_carrier(env, late)["status"] == "created"


def cancel(env: Env, order_id: str, run_id: str) -> dict[str, Any]:
    requests.post(f"{env.sb.mirakl_url}/__admin/cancel", json={"order_id": order_id}, timeout=5).raise_for_status()
    run(IngestOrdersOperator, run_id=run_id, task_id="ingest.fetch_orders")
    return run(VoidCanceledLabelsOperator, run_id=run_id, task_id="shipping.void_canceled_labels")


def test_a_cancellation_before_the_transmit_is_voided_after_it_refunded(env: Env, day: Day) -> None:
    early, late, kept = labelled(env, 3, "manual__morning")
    assert cancel(env, early, "manual__c1")["recorded"] == {"voided": 1}

    day.after_cutoff()
    assert run(CloseDayOperator, run_id="scheduled__eod", task_id=EOD_TASK)["recorded"]["transmitted"] == 1
    deletes = calls(env, "void_shipment")
    assert cancel(env, late, "manual__c2")["recorded"] == {"refund_requested": 1}
    assert calls(env, "void_shipment") == deletes  # in a manifest: straight to the refund, no void tried

    voided, refunded = row(env, early), row(env, late)
    assert voided["status"] == "voided" and voided["refund_ticket_id"] is None and voided["manifest_row_id"] is None
    assert refunded["status"] == "refund_requested" and refunded["refund_ticket_id"]
    assert refunded["void_detail"]["how"].startswith("refund requested")
    assert refunded["manifest_row_id"] is not None and refunded["voided_at"] is None
    early_cp, late_cp = at_carrier(env, early), at_carrier(env, late)
    assert early_cp["status"] == "voided" and not early_cp["refunded"]  # never both
    assert late_cp["status"] == "transmitted" and late_cp["refunded"]  # never neither
    (manifest,) = sandbox_manifests(env)
    assert sorted(manifest.shipment_ids) == sorted([row(env, late)["shipment_id"], row(env, kept)["shipment_id"]])


def test_a_label_bought_while_a_create_of_the_group_is_in_flight_joins_the_next_group(env: Env, day: Day) -> None:
    (first,) = labelled(env, 1, "manual__m1")
    group = row(env, first)["group_id"]
    first_shipment = row(env, first)["shipment_id"]
    # A create of the group still in flight: its intent exists and its package lock is held.
    env.store.create_shipment_intent(order_id=first, package_no=2, customer_request_id=f"{first}-2")
    assert env.store.assign_shipping_group(f"{first}-2", datetime.now(day.tz).date()) == group
    held, release = threading.Event(), threading.Event()

    def in_flight() -> None:
        with env.store.shipment_lock(f"{first}-2") as locked:
            assert locked
            held.set()
            release.wait(30)

    worker = threading.Thread(target=in_flight)
    worker.start()
    assert held.wait(10)
    try:
        # A supervisor closes the day early (the page runs the same closer): the group closes but
        # is not transmitted while the create is in flight; a label bought now joins the next group.
        result = StepResult("end_of_day")
        DayCloser(env.store, CanadaPostHook(), Settings.load(), actor="supervisor", result=result,
                  log=logging.getLogger("test")).close(datetime.now(day.tz).date())
        assert group in result.transient and calls(env, "transmit_shipments") == 0
        (second,) = labelled(env, 1, "manual__m2")
        assert row(env, second)["group_id"] == f"{day.today}-2"
    finally:
        release.set()
        worker.join()
    env.store.mark_shipment_failed(f"{first}-2", error={"reason": "test: the create never reached Canada Post"})
    day.after_cutoff()
    summary = run(CloseDayOperator, run_id="scheduled__eod", task_id=EOD_TASK)
    assert summary["recorded"] == {"transmitted": 2, "stored": 2}
    by_group = {tuple(m.group_ids): m.shipment_ids for m in sandbox_manifests(env)}
    assert by_group == {(group,): [first_shipment], (f"{day.today}-2",): [row(env, second)["shipment_id"]]}
    assert calls(env, "transmit_shipments") == 2


@pytest.mark.parametrize("fault", [
    {"error_rate": 1, "count": 1, "error_after_commit": True, "error_statuses": [503]},  # done, then a 5xx
    {"error_rate": 1, "count": 1, "error_statuses": [502]},  # refused before acting: nothing transmitted
    {"malformed_rate": 1, "count": 1},  # done, the answer cut in half
], ids=["5xx-after-commit", "5xx-before-commit", "malformed-answer"])
def test_every_doubtful_transmit_ends_in_exactly_one_manifest(env: Env, day: Day, monkeypatch, fault) -> None:
    orders = labelled(env, 2, "manual__day")
    group = row(env, orders[0])["group_id"]
    day.after_cutoff()
    env.sb.set_faults("canadapost", "transmit_shipments", **fault)
    first_ok = True
    try:
        run(CloseDayOperator, run_id="scheduled__eod", task_id=EOD_TASK)
    except OrderflowTransientError:
        first_ok = False  # the doubt stands: no manifest read back, the task retries
    acted = bool(fault.get("error_after_commit") or fault.get("malformed_rate"))
    assert first_ok == acted and calls(env, "transmit_shipments") == 1
    if not acted:
        # No manifest yet, and too soon after the attempt to prove nothing was made: no new transmit.
        with pytest.raises(OrderflowTransientError):
            run(CloseDayOperator, run_id="scheduled__eod", task_id=EOD_TASK, try_number=2)
        assert calls(env, "transmit_shipments") == 1
        monkeypatch.setenv("ORDERFLOW_EOD_TRANSMIT_RECHECK_SECONDS", "0")
        run(CloseDayOperator, run_id="scheduled__eod", task_id=EOD_TASK, try_number=3)
        assert calls(env, "transmit_shipments") == 2  # proven absent by a read-back: transmitted now
    run(CloseDayOperator, run_id="scheduled__eod2", task_id=EOD_TASK)  # a later run: nothing to do
    (manifest,) = sandbox_manifests(env)
    assert manifest.group_ids == [group]
    assert sorted(manifest.shipment_ids) == sorted(row(env, o)["shipment_id"] for o in orders)
    (g,) = db(env, "SELECT status, transmit_attempts FROM shipping_groups WHERE group_id = %s", group)
    assert g == {"status": "transmitted", "transmit_attempts": 1 if acted else 2}
