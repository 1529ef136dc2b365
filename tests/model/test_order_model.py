"""The proof (issue 12): a Hypothesis stateful test over the real order store, the real operators
and the sandbox over HTTP.

Rules: Best Buy sends new orders and cancels them at every stage (before the debit, in SHIPPING
before the label, after the label, after a refused OR23); time passes (debits happen, hidden
shipments become visible); carrier and marketplace faults (commit-then-drop, 5xx before and after
the action, 429, a created shipment invisible to look-ups for a while); the scheduler runs the
DAG's steps in order, or one step alone; a worker dies in the middle of a batch (just before a
store write, the API call before it done) and Airflow retries that task instance; two steps
overlap; customers write (new threads or not), the inbox is synced and answered automatically
(M12 dropped after commit, 5xx after the action); an agent's reply is submitted twice (a
resubmit, a double click, a retry after a dropped answer or a 5xx after the action); a packer
packs parcels from the queue (every unit scanned, or overridden); the pack gate is switched on and
off between runs.

Invariants after every rule, read from the sandbox's own state and from the order DB:

- at most one live label per package and per order at Canada Post; once a void run settled every
  candidate, no live label belongs to an order that had ended by then;
- ``shipped`` only after OR23 with the order's live PIN and then one OR24, never for an order Best
  Buy canceled; a canceled order was never confirmed shipped;
- no order without a status or in one no step, page or panel serves (the DAG's own claims under
  the current settings, the panels a person reads, the packing queue); every shipment row that may
  hold money is served (void candidates for ended orders) and none is a pair no code writes;
- every history row is a transition the status machine allows, from the row before it, and the
  history only grows;
- at most one M12 per composed reply (its text appears at most once in the sandbox's thread) and
  per customer message answered automatically (the other shop messages of a thread never
  outnumber the auto-replies orderflow recorded for it).

``make test`` runs the ``ci`` profile; ``make soak`` the ``soak`` one and prints what it explored.
"""

from __future__ import annotations

import itertools
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any

import requests
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from orderflow import lifecycle
from orderflow.replies import new_reply_key
from orderflow.store import OrderStore
from orderflow.store.packing import PackingRefused
from tests.model.conftest import PROFILE
from tests.model.world import ORDER_STEPS, STEPS, World, order_of

S = lifecycle.S
WAITING_AT_BEST_BUY = {str(s) for s in lifecycle.MIRAKL_WAITING_ACCEPTANCE | lifecycle.MIRAKL_WAITING_DEBIT}

FAULTS: dict[str, tuple[str, str, dict]] = {
    "cp create: commit then drop": ("canadapost", "create_shipment", {"drop_rate": 1}),
    "cp create: 500 before": ("canadapost", "create_shipment", {"error_rate": 1, "error_statuses": [500]}),
    "cp create: 503 after": ("canadapost", "create_shipment",
                             {"error_rate": 1, "error_statuses": [503], "error_after_commit": True}),
    "cp create: 429": ("canadapost", "create_shipment", {"throttle_rate": 1, "retry_after": 0}),
    "cp create: drop, hidden 1 s": ("canadapost", "create_shipment",
                                    {"drop_rate": 1, "visibility_delay_rate": 1, "visibility_delay_seconds": 1}),
    "cp label: 500": ("canadapost", "get_artifact", {"error_rate": 1, "error_statuses": [500]}),
    "cp void: commit then drop": ("canadapost", "void_shipment", {"drop_rate": 1}),
    "cp look-up: 503": ("canadapost", "get_shipments", {"error_rate": 1, "error_statuses": [503]}),
    "OR21: commit then drop": ("mirakl", "OR21", {"drop_rate": 1}),
    "OR23: commit then drop": ("mirakl", "OR23", {"drop_rate": 1}),
    "OR23: refused (400)": ("mirakl", "OR23", {"error_rate": 1, "error_statuses": [400]}),
    "OR24: commit then drop": ("mirakl", "OR24", {"drop_rate": 1}),
    "OR24: 500 after": ("mirakl", "OR24", {"error_rate": 1, "error_statuses": [500], "error_after_commit": True}),
    "OR11: 500": ("mirakl", "OR11", {"error_rate": 1, "error_statuses": [500]}),
    "OR11: 429": ("mirakl", "OR11", {"throttle_rate": 1, "retry_after": 0}),
    "M12: commit then drop": ("mirakl", "M12", {"drop_rate": 1}),
    "M12: 500 after": ("mirakl", "M12", {"error_rate": 1, "error_statuses": [500], "error_after_commit": True}),
    "M11: 500": ("mirakl", "M11", {"error_rate": 1, "error_statuses": [500]}),
}
#: Where a worker of each step may die: just before the store write that follows an API answer.
KILL_POINTS_OF: dict[str, tuple[str, ...]] = {
    "acceptance": ("record_transition",),
    "shipping": ("create_shipment_intent", "mark_shipment_created", "mark_label_stored", "record_transition"),
    "void": ("mark_shipment_created", "mark_shipment_voided", "mark_shipment_failed"),
    "tracking": ("record_transition",),
}
#: Which of the orders (threads, parcels...) the world has right then a rule picks. Drawn whatever the
#: world holds, so the data Hypothesis generates never depends on the world (which threads and
#: clocks make only nearly deterministic): a rule with nothing to pick does nothing.
PICK = st.integers(0, 1000)
CANCEL_STAGES = ("before the debit", "SHIPPING before the label", "after the label", "after a failed OR23",
                 "any")

#: What the model explored (printed by ``make soak``).
EXPLORED: Counter[str] = Counter()
SECONDS: Counter[str] = Counter()


class OrderModel(RuleBasedStateMachine):
    world: World  # set by the test before the machine runs

    def __init__(self) -> None:
        super().__init__()
        self.world.reset()
        self.runs = itertools.count(1)
        self.canceled_by_best_buy: set[str] = set()
        self.void_settled: set[str] = set()  # ended when a void run settled every candidate
        self.dead_tries: list[tuple[str, str, int]] = []
        self.or23_faults = 0
        self.seen_history: dict[str, list[tuple[int, str | None, str]]] = {}
        self._timing: tuple[str, float] | None = None
        self.replies = itertools.count(1)
        self.last: Snapshot | None = None  # what the invariants read after the last rule
        EXPLORED["examples"] += 1

    def new_run(self) -> str:
        return f"scheduled__model{next(self.runs)}"

    def _count(self, name: str) -> None:
        EXPLORED["steps"] += 1
        EXPLORED[f"rule {name}"] += 1
        self._timing = (name, time.perf_counter())

    def _timed(self) -> None:
        if self._timing is not None:
            name, started = self._timing
            SECONDS[name] += time.perf_counter() - started
            self._timing = None

    def _step(self, step: str, run_id: str, try_number: int = 1) -> None:
        ended_before = {o for o, s in self.world.orders().items() if s in lifecycle.ENDED}
        outcome = self.world.run_step(step, run_id, try_number)
        if outcome.killed:
            self.dead_tries.append((step, run_id, try_number))
        if step == "void" and outcome.summary is not None and not outcome.summary["waiting"] \
                and not outcome.summary["transient"]:
            self.void_settled |= ended_before

    # -- Best Buy ---------------------------------------------------------------------------------
    @initialize(n=st.integers(1, 3))
    def first_orders(self, n: int) -> None:
        self._count("new orders")
        self.world.sb.generate_orders(n)

    @rule(n=st.integers(1, 2))
    def new_orders(self, n: int) -> None:
        self._count("new orders")
        self.world.sb.generate_orders(n)

    @rule(pick=PICK, stage=st.sampled_from(CANCEL_STAGES))
    def best_buy_cancels(self, pick: int, stage: str) -> None:
        mirakl = self.world.mirakl_orders()
        ours = self.world.orders()
        open_at_best_buy = sorted(o for o, m in mirakl.items() if m["state"] in WAITING_AT_BEST_BUY | {"SHIPPING"})
        by_stage = {
            "before the debit": [o for o in open_at_best_buy if mirakl[o]["state"] in WAITING_AT_BEST_BUY],
            "SHIPPING before the label": [o for o in open_at_best_buy
                                          if mirakl[o]["state"] == "SHIPPING" and ours.get(o) == S.ACCEPTED],
            "after the label": [o for o in open_at_best_buy if ours.get(o) in lifecycle.TRACKING_INPUT],
            "after a failed OR23": [o for o in open_at_best_buy if ours.get(o) == S.TRACKING_FAILED],
            "any": open_at_best_buy,
        }
        candidates = by_stage[stage] or open_at_best_buy
        if not candidates:
            self._count("cancel (nothing open)")
            return
        order_id = candidates[pick % len(candidates)]
        self._count(f"cancel {stage if by_stage[stage] else 'any'}")
        requests.post(f"{self.world.sb.mirakl_url}/__admin/cancel", json={"order_id": order_id},
                      timeout=10).raise_for_status()
        self.canceled_by_best_buy.add(order_id)

    @rule(n=st.integers(1, 2), new_thread=st.booleans())
    def customer_writes(self, n: int, new_thread: bool) -> None:
        self._count("customer message")
        self.world.sb.generate_messages(n, new_thread=new_thread)

    @rule(step=st.sampled_from(["sync_messages", "auto_reply"]))
    def messaging_step(self, step: str) -> None:
        self._count(f"step {step}")
        self._step(step, self.new_run())

    @rule(pick=PICK, how=st.sampled_from(["twice in a row", "double click", "after a dropped answer",
                                               "after a 5xx after the action"]))
    def agent_replies_submitted_twice(self, pick: int, how: str) -> None:
        """An agent's composed reply (its one-time key) submitted twice: a resubmit, a double click
        (two requests at once), a retry after a lost or failed answer."""
        conversations = self.last.conversations if self.last else []
        if not conversations:
            self._count("agent reply (no conversation yet)")
            return
        conversation_id = conversations[pick % len(conversations)]
        self._count(f"agent reply {how}")
        key = new_reply_key()
        body = f"Model reply {next(self.replies)}: we are on it."
        submit = partial(self.world.submit_agent_reply, reply_key=key, conversation_id=conversation_id, body=body)
        if how == "after a dropped answer":
            self.world.sb.set_faults("mirakl", "M12", count=1, drop_rate=1)
        elif how == "after a 5xx after the action":
            self.world.sb.set_faults("mirakl", "M12", count=1, error_rate=1, error_statuses=[500],
                                     error_after_commit=True)
        if how == "double click":
            with ThreadPoolExecutor(max_workers=2) as pool:
                states = list(pool.map(lambda _: submit(), range(2)))
        else:
            states = [submit()]
            if how != "twice in a row":
                time.sleep(2.1)  # the page's "checking" window (recheck_seconds) has passed
            states.append(submit())
        EXPLORED[f"agent reply outcomes {'/'.join(states)}"] += 1

    @rule(seconds=st.sampled_from([5, 900]))
    def time_passes(self, seconds: int) -> None:
        self._count("time passes")
        self.world.sb.advance(seconds)

    @rule(fault=st.sampled_from(sorted(FAULTS)))
    def fault(self, fault: str) -> None:
        self._count(f"fault {fault}")
        service, endpoint, spec = FAULTS[fault]
        if endpoint == "OR23":
            self.or23_faults += 1
        self.world.sb.set_faults(service, endpoint, count=1, **spec)
        self._scheduler_run()  # the fault meets the next run

    # -- the scheduler and the workers -----------------------------------------------------------
    @rule(gate=st.sampled_from(["as it is", "switched on", "switched off"]))
    def scheduler_run(self, gate: str) -> None:
        """A scheduler run; between runs a person may switch the pack gate."""
        if gate != "as it is":
            self.world.set_gate(gate == "switched on")
        self._count(f"scheduler run (gate {gate}: {'on' if self.world.flags.pack_gate else 'off'})")
        self._scheduler_run()

    def _scheduler_run(self) -> None:
        """A cron tick: 15 minutes passed (debits take 10 at the sandbox), then every step in DAG order."""
        self.world.sb.advance(900)
        run_id = self.new_run()
        for step in STEPS:  # the order steps, then messaging (sync, auto-replies)
            self._step(step, run_id)

    @rule(step=st.sampled_from(ORDER_STEPS))
    def one_step(self, step: str) -> None:
        self._count(f"step {step}")
        self._step(step, self.new_run())

    @rule(data=st.data(), step=st.sampled_from(sorted(KILL_POINTS_OF)), after=st.integers(0, 1))
    def worker_killed_mid_batch(self, data: st.DataObject, step: str, after: int) -> None:
        """A scheduler run whose `step` worker dies mid-batch (the steps before it run as usual)."""
        point = data.draw(st.sampled_from(KILL_POINTS_OF[step]), label="dies just before")
        run_id = self.new_run()
        self.world.sb.advance(900)  # a cron tick, as the scheduler's
        for before in ORDER_STEPS[: ORDER_STEPS.index(step)]:
            self._step(before, run_id)
        outcome = self.world.run_killed(step, run_id, point, after)
        self._count(f"killed {step} before {point}" if outcome.killed else "killed (not reached)")
        if outcome.killed:
            self.dead_tries.append((step, run_id, 1))

    @rule()
    def killed_try_retried(self) -> None:
        if not self.dead_tries:
            self._count("killed try retried (none dead)")
            return
        self._count("killed try retried")
        step, run_id, try_number = self.dead_tries.pop(0)
        self._step(step, run_id, try_number + 1)

    @rule(first=st.sampled_from(["acceptance", "shipping", "void", "tracking"]),
          second=st.sampled_from(["ingest", "acceptance", "shipping", "void", "tracking"]))
    def two_steps_overlap(self, first: str, second: str) -> None:
        self._count(f"overlap {first}+{second}")
        for outcome in self.world.run_overlapping((first, self.new_run()), (second, self.new_run())):
            assert not outcome.killed

    # -- the packing station and the settings ----------------------------------------------------
    @rule(pick=PICK, override=st.booleans())
    def packer_packs(self, pick: int, override: bool) -> None:
        queue = sorted(r["order_id"] for r in self.world.pack_queue())
        if not queue:
            self._count("pack session (queue empty)")
            return
        order_id = queue[pick % len(queue)]
        self._count("pack session (override)" if override else "pack session (scanned)")
        packable = lifecycle.values(lifecycle.packable_statuses(self.world.flags))
        store = OrderStore(self.world.db_url, max_connections=2)
        try:
            if override:
                store.complete_pack(order_id, packer="model", packable_statuses=packable,
                                    override_reason="model: counted by hand")
            else:
                progress = store.pack_progress(order_id)
                scans = [(f"{order_id}-{c.component_id}-{i}", c.barcode)
                         for c in progress.components() for i in range(c.remaining) if c.barcode]
                _, _, packed = store.record_scans(order_id, scans, packer="model", packable_statuses=packable)
                if packed is None:
                    store.complete_pack(order_id, packer="model", packable_statuses=packable,
                                        override_reason="model: a unit without a barcode")
        except PackingRefused:
            pass  # a canceled order, a parcel packed meanwhile: the station says so
        finally:
            store.close()

    # -- invariants ----------------------------------------------------------------------------------
    @invariant()
    def the_world_is_consistent(self) -> None:
        """One snapshot of the sandbox and the DB per rule, every invariant checked against it."""
        self._timed()
        world = self.world
        snap = Snapshot(
            ours=world.orders(), mirakl=world.mirakl_orders(), cp=world.cp_shipments(),
            active={crid: ids for crid, ids in world.cp_active().items() if ids},
            history=world.history(), shipments=world.shipments(),
            queued={r["order_id"] for r in world.pack_queue()},
            conversations=[r["conversation_id"] for r in world.conversations()],
        )
        self.last = snap
        self.one_live_label_per_package_and_none_for_a_settled_canceled_order(snap)
        self.shipped_only_after_tracking_with_the_live_pin(snap)
        self.every_order_and_every_paid_label_is_served(snap)
        self.history_follows_the_machine_and_only_grows(snap)
        self.at_most_one_m12_per_composed_reply_and_answered_message()

    def one_live_label_per_package_and_none_for_a_settled_canceled_order(self, snap: Snapshot) -> None:
        assert all(len(ids) == 1 for ids in snap.active.values()), snap.active
        per_order = Counter(order_of(crid) for crid in snap.active)
        assert all(n == 1 for n in per_order.values()), per_order
        # A row the void step failed permanently waits for a person (the failed task lists it).
        for_a_person = {r["order_id"] for r in snap.shipments if (r.get("error") or {}).get("step") == "void_labels"}
        leftover = sorted((set(per_order) & self.void_settled) - for_a_person)
        assert leftover == [], f"live labels of ended orders after the void step settled them: {leftover}"

    def shipped_only_after_tracking_with_the_live_pin(self, snap: Snapshot) -> None:
        pins = {s["customer_request_id"]: s["tracking_pin"] for s in snap.cp}
        for order_id, status in snap.ours.items():
            m = snap.mirakl.get(order_id)
            if status == S.SHIPPED:
                assert order_id not in self.canceled_by_best_buy, order_id
                assert m["state"] in {str(s) for s in lifecycle.MIRAKL_SHIPPED}, (order_id, m)
                assert m["ship_confirmations"] == 1, (order_id, m)
                assert m["tracking_updates"] >= 1 and (m["tracking_updates"] == 1 or self.or23_faults), (order_id, m)
                live = [crid for crid in snap.active if order_of(crid) == order_id]
                assert len(live) == 1 and pins[live[0]] == m["tracking"], (order_id, live, m)
            if m is not None and (status in lifecycle.ENDED or order_id in self.canceled_by_best_buy):
                assert m["ship_confirmations"] == 0, (order_id, m)

    def every_order_and_every_paid_label_is_served(self, snap: Snapshot) -> None:
        claims = self.world.claim_statuses[self.world.flags]
        listed, queued = self.world.served_elsewhere(), snap.queued
        stranded = [f"{o}: {s}" for o, s in sorted(snap.ours.items(), key=lambda i: i[0])
                    if s is None or (lifecycle.OrderStatus(s) not in lifecycle.TERMINAL
                                     and s not in claims and o not in listed and o not in queued)]
        assert stranded == [], stranded
        live = [r for r in snap.shipments if r["status"] in lifecycle.MAY_HOLD_MONEY]
        assert self.world.never_produced(live) == []
        ended = [r for r in live if r["order_status"] in lifecycle.ENDED]
        if ended:
            candidates = self.world.void_candidates(run_id="model-invariant")
            unserved = [r["customer_request_id"] for r in ended if r["customer_request_id"] not in candidates
                        and (r.get("error") or {}).get("step") != "void_labels"]  # failed: the task lists it
            assert unserved == [], unserved

    def history_follows_the_machine_and_only_grows(self, snap: Snapshot) -> None:
        for order_id, rows in snap.history.items():
            before: str | None = None
            for _, from_status, to_status in rows:
                assert from_status == before, (order_id, rows)
                assert lifecycle.is_allowed(before, to_status), (order_id, rows)
                before = to_status
            seen = self.seen_history.get(order_id, [])
            assert rows[: len(seen)] == seen, (order_id, seen, rows)
        assert set(self.seen_history) <= set(snap.history)
        self.seen_history = snap.history


    def at_most_one_m12_per_composed_reply_and_answered_message(self) -> None:
        """Each composed reply reaches its thread at most once (its text is unique); every other
        message the shop sent is one recorded auto-reply (one per customer message answered)."""
        sent = self.world.shop_messages_by_thread()
        composed = set(self.world.agent_reply_bodies().values())
        twice = {body: n for bodies in sent.values() for body, n in Counter(bodies).items()
                 if body in composed and n > 1}
        assert twice == {}, f"composed replies sent more than once: {twice}"
        decided = self.world.auto_replies_by_thread()
        automatic = {tid: sum(1 for b in bodies if b not in composed) for tid, bodies in sent.items()}
        over = {tid: (n, decided.get(tid, 0)) for tid, n in automatic.items() if n > decided.get(tid, 0)}
        assert over == {}, f"threads with more automatic shop messages than auto-replies decided: {over}"


@dataclass
class Snapshot:
    ours: dict[str, str | None]
    mirakl: dict[str, dict[str, Any]]
    cp: list[dict[str, Any]]
    active: dict[str, list[str]]
    history: dict[str, list[tuple[int, str | None, str]]]
    shipments: list[dict[str, Any]]
    queued: set[str]
    conversations: list[int]


def test_order_lifecycle_model(model_world: World) -> None:
    OrderModel.world = model_world
    EXPLORED.clear()
    SECONDS.clear()
    try:
        with model_world.environment():
            run_state_machine_as_test(OrderModel, settings=settings.get_profile(PROFILE))
    finally:
        rules = sorted((k, v) for k, v in EXPLORED.items() if k.startswith("rule "))
        print(f"\nmodel-based test ({PROFILE} profile): {EXPLORED['examples']} examples, "
              f"{EXPLORED['steps']} steps")
        for name, count in rules:
            print(f"  {count:5d}  {name[5:]:45s} {SECONDS[name[5:]]:7.1f} s")
        for name, count in sorted((k, v) for k, v in EXPLORED.items() if k.startswith("agent reply outcomes")):
            print(f"  {count:5d}  {name}")


