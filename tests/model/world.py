"""The world the model-based test drives: one sandbox (both servers, over HTTP) and one order DB for
the whole test session, reset between examples; the real operators run as a task runner runs
them, with a worker that can be killed mid-batch; and the invariants, read from the sandbox's own
state and call log and from the order DB."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg2
import psycopg2.extras
import pytest
import requests
from airflow.sdk.exceptions import AirflowException

from orderflow import lifecycle
from orderflow.hooks._http import RateLimiter
from orderflow.hooks.canadapost import CanadaPostHook
from orderflow.operators import (
    AcceptOrdersOperator,
    BuyLabelsOperator,
    IngestOrdersOperator,
    PushTrackingOperator,
    VoidCanceledLabelsOperator,
)
from orderflow.operators.auto_reply import AutoReplyOperator
from orderflow.operators.inbox_sync import SyncMessagesOperator
from orderflow.store import OrderStore
from sandbox.testing import SandboxHandle
from tests.liveness import NEVER_PRODUCED
from tests.operators._helpers import FAST_SETTINGS, connect, context
from tests.person_views import person_lists

#: The DAG's order steps in DAG order: (task id, operator class).
STEPS: dict[str, tuple[str, type]] = {
    "ingest": ("ingest.fetch_orders", IngestOrdersOperator),
    "acceptance": ("acceptance.accept_orders", AcceptOrdersOperator),
    "shipping": ("shipping.buy_labels", BuyLabelsOperator),
    "void": ("shipping.void_canceled_labels", VoidCanceledLabelsOperator),
    "tracking": ("tracking.push_tracking", PushTrackingOperator),
    "sync_messages": ("messaging.sync_messages", SyncMessagesOperator),
    "auto_reply": ("messaging.auto_reply", AutoReplyOperator),
}
ORDER_STEPS = ("ingest", "acceptance", "shipping", "void", "tracking")
#: Tables that describe the schema, not the world: kept between examples.
KEEP_TABLES = {"schema_migrations", "order_statuses", "status_transitions", "reply_templates", "products",
               "product_components"}
#: Store writes a killed worker may die just before (the commit after an API answer never happens).
KILL_POINTS = ("record_transition", "create_shipment_intent", "mark_shipment_created", "mark_label_stored",
               "mark_shipment_voided", "mark_shipment_failed")


class KilledWorker(BaseException):
    """The worker process died here: nothing after this point runs, nothing is released."""


@dataclass
class StepOutcome:
    step: str
    run_id: str
    try_number: int
    summary: dict[str, Any] | None = None
    error: str | None = None
    killed: bool = False


@dataclass
class World:
    sb: SandboxHandle
    db_url: str
    label_dir: Path
    claim_statuses: dict[lifecycle.Flags, set[str]] = field(default_factory=dict)

    # -- the environment the operators read (only while the model runs: never leaks into other tests)
    @contextmanager
    def environment(self) -> Iterator[pytest.MonkeyPatch]:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("AIRFLOW_CONN_ORDERFLOW_DB", self.db_url)
            mp.setenv("ORDERFLOW_LABEL_DIR", str(self.label_dir))
            for key, value in FAST_SETTINGS.items():
                mp.setenv(key, value)
            mp.setenv("ORDERFLOW_ACCEPTANCE_POLL_ATTEMPTS", "2")
            mp.setenv("ORDERFLOW_MAX_WORKERS", "3")
            # A create in doubt is looked up again 2 s later (the hidden-shipment fault hides 1 s):
            # the recheck window is exercised within one example.
            mp.setenv("ORDERFLOW_CREATE_RECHECK_SECONDS", "2")
            connect(self.sb, mp, "xml")
            yield mp

    # -- reset between examples --------------------------------------------------------------
    def reset(self) -> None:
        for url in (self.sb.mirakl_url, self.sb.canadapost_url):
            requests.post(f"{url}/__admin/clear", timeout=10).raise_for_status()
            requests.post(f"{url}/__admin/reset", timeout=10).raise_for_status()
            requests.delete(f"{url}/__admin/faults", timeout=10).raise_for_status()
        conn = psycopg2.connect(self.db_url)
        try:
            with conn, conn.cursor() as cur:
                cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
                tables = sorted(r[0] for r in cur.fetchall() if r[0] not in KEEP_TABLES)
                # The history is append-only (a trigger refuses TRUNCATE): this throwaway DB's reset
                # between examples is the one place that may start it over.
                cur.execute("SET LOCAL session_replication_role = replica")
                cur.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
        finally:
            conn.close()
        RateLimiter.reset_all()
        CanadaPostHook._tokens.clear()  # the Canada Post sandbox forgot its tokens
        shutil.rmtree(self.label_dir, ignore_errors=True)
        self.set_gate(False)

    # -- settings -----------------------------------------------------------------------------
    @property
    def flags(self) -> lifecycle.Flags:
        return lifecycle.Flags(pack_gate=os.environ.get("ORDERFLOW_PACK_VERIFY_GATE") == "true")

    def set_gate(self, on: bool) -> None:
        os.environ["ORDERFLOW_PACK_VERIFY_GATE"] = "true" if on else "false"

    # -- running steps --------------------------------------------------------------------------
    def run_step(self, step: str, run_id: str, try_number: int = 1) -> StepOutcome:
        task_id, cls = STEPS[step]
        outcome = StepOutcome(step, run_id, try_number)
        op = cls(task_id=task_id)
        try:
            outcome.summary = op.execute(context(run_id, try_number))
        except AirflowException as exc:  # failed orders for a person, or transient: the task's verdict
            outcome.error = f"{type(exc).__name__}: {str(exc)[:300]}"
        except KilledWorker:
            outcome.killed = True
            store = getattr(op, "store", None)
            if store is not None:
                store.close()  # the dead process's sessions end (their advisory locks with them)
        return outcome

    def run_killed(self, step: str, run_id: str, point: str, after: int) -> StepOutcome:
        with killed_worker(point, after):
            return self.run_step(step, run_id)

    def run_overlapping(self, first: tuple[str, str], second: tuple[str, str]) -> list[StepOutcome]:
        """Two steps (or one step of two runs) at once, in two threads."""
        outcomes: list[StepOutcome | None] = [None, None]
        errors: list[BaseException] = []

        def go(i: int, step: str, run_id: str) -> None:
            try:
                outcomes[i] = self.run_step(step, run_id)
            except BaseException as exc:  # surfaced below, in the test's thread
                errors.append(exc)

        threads = [threading.Thread(target=go, args=(i, *pair)) for i, pair in enumerate((first, second))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
        if errors:
            raise errors[0]
        return [o for o in outcomes if o is not None]

    # -- reading the world ----------------------------------------------------------------------
    def query(self, sql: str, params: Any = None) -> list[dict[str, Any]]:
        conn = psycopg2.connect(self.db_url)
        try:
            with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
                cur.execute(sql, params)
                return [dict(r) for r in cur.fetchall()]
        finally:
            conn.rollback()
            conn.close()

    def orders(self) -> dict[str, str | None]:
        return {r["order_id"]: r["current_status"] for r in self.query("SELECT order_id, current_status FROM orders")}

    def history(self) -> dict[str, list[tuple[int, str | None, str]]]:
        out: dict[str, list[tuple[int, str | None, str]]] = {}
        for r in self.query("SELECT id, order_id, from_status, status FROM order_status_history ORDER BY id"):
            out.setdefault(r["order_id"], []).append((r["id"], r["from_status"], r["status"]))
        return out

    def shipments(self) -> list[dict[str, Any]]:
        return self.query("SELECT s.*, o.current_status AS order_status FROM shipments s "
                          "JOIN orders o USING (order_id) ORDER BY s.id")

    def mirakl_orders(self) -> dict[str, dict[str, Any]]:
        return requests.get(f"{self.sb.mirakl_url}/__admin/state", timeout=10).json()["orders"]

    def cp_shipments(self) -> list[dict[str, Any]]:
        return requests.get(f"{self.sb.canadapost_url}/__admin/shipments", timeout=10).json()["shipments"]

    def cp_active(self) -> dict[str, list[str]]:
        state = requests.get(f"{self.sb.canadapost_url}/__admin/state", timeout=10).json()
        return state["active_shipments_by_customer_request_id"]

    def shop_messages_by_thread(self) -> dict[str, list[str]]:
        """The bodies of the messages the shop sent (M12 applied), per Mirakl thread, from the
        sandbox's own threads."""
        service = self.sb.mirakl
        with service.lock:
            return {tid: [m["body"] for m in t["messages"] if (m.get("from") or {}).get("type") == "SHOP_USER"]
                    for tid, t in service.threads.items()}

    def conversations(self) -> list[dict[str, Any]]:
        return self.query("SELECT conversation_id, mirakl_thread_id, customer_id FROM conversations "
                          "WHERE customer_id IS NOT NULL ORDER BY conversation_id")

    def agent_reply_bodies(self) -> dict[str, str]:
        """Composed replies (one-time key -> exact text) agents submitted, whatever became of them."""
        return {r["reply_key"]: r["body"] for r in self.query("SELECT reply_key, body FROM agent_replies")}

    def submit_agent_reply(self, *, reply_key: str, conversation_id: int, body: str) -> str:
        """What the inbox page does on a submit (``views.inbox``): the replies module, its hook."""
        from orderflow import replies
        from orderflow.views.inbox import _inbox_hook

        store = OrderStore(self.db_url, max_connections=3)
        hook = _inbox_hook()
        try:
            outcome = replies.send_agent_reply(store, hook, reply_key=reply_key, conversation_id=conversation_id,
                                               body=body, agent="model", recheck_seconds=2.0)
            return outcome.state
        except Exception as exc:  # the page answers "checking" and keeps the text
            return f"error {type(exc).__name__}"
        finally:
            hook.close()
            store.close()

    def auto_replies_by_thread(self) -> dict[str, int]:
        """Auto-replies orderflow recorded (one row per customer message, sent or in doubt), per thread."""
        rows = self.query("SELECT c.mirakl_thread_id, count(*) AS n FROM auto_replies a "
                          "JOIN conversations c USING (conversation_id) WHERE a.status IN ('intent', 'sent') "
                          "GROUP BY 1")
        return {r["mirakl_thread_id"]: int(r["n"]) for r in rows}

    def pack_queue(self) -> list[dict[str, Any]]:
        store = OrderStore(self.db_url, max_connections=2)
        try:
            return store.pack_queue(self.flags, limit=10_000)
        finally:
            store.close()

    def void_candidates(self, run_id: str) -> set[str]:
        store = OrderStore(self.db_url, max_connections=2)
        try:
            return {r["customer_request_id"] for r in store.void_candidates(run_id=run_id, limit=10_000)}
        finally:
            store.close()

    def served_elsewhere(self) -> set[str]:
        """Order ids the panels a person reads list."""
        return set().union(*person_lists(self.db_url).values())

    def never_produced(self, rows: list[dict[str, Any]]) -> list[str]:
        return [f"{r['customer_request_id']}: order {r['order_status']}, shipment {r['status']}"
                for r in rows if (r["order_status"], r["status"]) in NEVER_PRODUCED]


def order_of(customer_request_id: str) -> str:
    return customer_request_id.rsplit("-", 1)[0]


@contextmanager
def killed_worker(point: str, after: int) -> Iterator[None]:
    """The worker dies just before its `after`+1-th call of OrderStore.`point`: that write and every
    later store call of the process raise KilledWorker (a dead process commits and releases nothing)."""
    assert point in KILL_POINTS
    state = {"left": after, "dead": False}
    lock = threading.Lock()
    patched = {name: getattr(OrderStore, name) for name in (*KILL_POINTS, "release_owner_claims", "close")}

    def wrap(name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def call(self: OrderStore, *args: Any, **kwargs: Any) -> Any:
            with lock:
                if name == point and not state["dead"]:
                    if state["left"] <= 0:
                        state["dead"] = True
                    state["left"] -= 1
                dead = state["dead"]
            if dead and name != "close":
                raise KilledWorker(f"worker killed before {point}")
            return real(self, *args, **kwargs)
        return call

    for name, real in patched.items():
        setattr(OrderStore, name, wrap(name, real))
    try:
        yield
    finally:
        for name, real in patched.items():
            setattr(OrderStore, name, real)
