"""What every order step adds to the step framework (``operators/step.py``): claims and the re-attempt rule.

An order step (ingest excepted) works like this inside one task:

1. **Take back its own leftovers.** Claims are owned by ``<dag_id>/<run_id>/<task_id>``, the task
   instance, not one try of it. Airflow never runs two tries of one task instance at once, so a new
   try (an automatic retry, a person clearing the task, a re-run after a killed worker) first drops
   the claims its earlier try left behind instead of waiting for them to expire.
2. **The re-attempt rule.** It then moves every order that *this DAG run's same step* put into the
   step's ``*_failed`` state back to the state the order failed from (a history row saying so).
   A try that records a permanent failure always ends with ``AirflowFailException``, which Airflow
   never retries by itself, so the only way a later try of the same task instance exists is a person
   clearing it: clearing re-attempts exactly the orders that run failed. Scheduled runs have other
   run ids and never touch ``*_failed`` orders.
3. **Claim, work, record.** Orders are claimed in batches of ``batch_size`` until none is left; each
   batch is worked with at most ``max_workers`` threads. Every outcome is one history row carrying
   the run id (column and detail), the actor (``<dag_id>.<task_id>``) and, for failures, the API's
   codes and messages; the row's insert releases the order's claim in the same transaction.
   Orders left in their input state stay claimed until the task ends, so the batch loop never takes
   them again in this try.
4. **Verdict.** Any permanent failure: ``AirflowFailException`` listing the orders (the run is red;
   transient leftovers wait for the next scheduled run). Else any transient failure (429, 5xx,
   timeouts after the hooks' own retries): a retryable error, so Airflow retries the task with
   backoff. Else success, returning counts for XCom.

Configuration problems (a refused API key) stop the step at once: ``AirflowFailException``, every
order untouched.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException

from orderflow.operators.step import StepOperator

if TYPE_CHECKING:
    from airflow.sdk import Context

    from orderflow.hooks.mirakl import MiraklHook

# How long a claim outlives the longest a try may run (its execution_timeout): time for the timeout
# to fire, the running API calls to finish and the ``finally`` to release the claims.
CLAIM_TTL_MARGIN_SECONDS = 600


class OrderStepOperator(StepOperator):
    """Base of the order steps: see the module docstring for the claim/re-attempt contract."""

    #: status this step fails orders into (None: the step has no failure state of its own)
    failed_status: str | None = None
    ui_color = "#e8f4ff"

    def __init__(self, *, shard: int = 0, shards: int = 1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # ``shard`` of ``shards`` (issue 15): the DAG maps a step over range(SHARDS); each mapped
        # instance claims only its shard's orders, so shards never overlap.
        if not 0 <= int(shard) < max(1, int(shards)):
            raise ValueError(f"shard {shard} is not one of 0..{int(shards) - 1}")
        self.shard = int(shard)
        self.shards = max(1, int(shards))

    # -- set up per execution (never at parse time) --------------------------------------------
    def _prepare(self, context: Mapping[str, Any]) -> None:
        from orderflow.store import ClaimTry

        super()._prepare(context)
        # One owner per task instance (a shard is one): its next try takes back exactly its own claims.
        self.claim_owner: str = f"{self.dag_id}/{self.run_id}/{self.task_id}" + (
            f"#{self.shard}" if self.shards > 1 else "")
        map_index = getattr(self._ti, "map_index", None)
        self.claim_try = ClaimTry(self.dag_id, self.run_id, self.task_id,
                                  -1 if map_index is None else int(map_index), self.try_number)

    def begin(self) -> None:
        from orderflow.hooks._http import RateLimiter

        # Best Buy and Canada Post count calls per API key: every shard on every worker spends the
        # same budgets, so the limiters count in the order database, not in this process.
        RateLimiter.share_budgets(self.store)
        released = self.store.release_owner_claims(self.claim_owner)
        if released:
            self.log.info("took back %d claim(s) left by an earlier try of this task instance", released)
        self.reattempt_failed_orders()

    def end(self) -> None:
        from orderflow.hooks._http import RateLimiter

        # Whatever happened, leftovers go back to the pool for the next run (a killed process
        # never gets here: its claims expire after claim_ttl_seconds(), or the same task
        # instance's next try takes them back at once).
        self.store.release_owner_claims(self.claim_owner)
        RateLimiter.share_budgets(None)

    # -- the re-attempt rule ------------------------------------------------------------------
    def reattempt_failed_orders(self) -> None:
        if not self.failed_status:
            return
        from orderflow.store import StaleStatus, TransitionRefused

        rows = self.store.orders_failed_by_run(self.failed_status, run_id=self.run_id, actor=self.actor,
                                               shard=self.shard, shards=self.shards)
        for row in rows:
            target = row["from_status"]
            try:
                self.store.record_transition(
                    row["order_id"],
                    target,
                    detail=self.detail(
                        reason="re-attempt: this task instance ran again after failing the order",
                        failed_history_id=row["history_id"],
                    ),
                    run_id=self.run_id,
                    actor=self.actor,
                    expected_from=self.failed_status,
                )
            except (StaleStatus, TransitionRefused) as exc:
                self.log.warning("cannot re-attempt %s: %s", row["order_id"], exc)
                continue
            self.result.reattempted.append(row["order_id"])
        if rows:
            self.log.info(
                "re-attempting %d order(s) this run's %s failed: %s",
                len(self.result.reattempted), self.step, ", ".join(self.result.reattempted),
            )

    # -- claims ---------------------------------------------------------------------------------
    def claim_ttl_seconds(self) -> float:
        """The lease of a claim: the configured TTL, but never less than this task's
        execution_timeout plus a margin. A claim taken at the start of a try that then runs to its
        timeout must still be held when the try stops, or an overlapping run (a cleared older task,
        a manual trigger) could claim and work the same order while this try is still at it."""
        ttl = float(self.settings.claim_ttl_seconds)
        if self.execution_timeout is not None:
            ttl = max(ttl, self.execution_timeout.total_seconds() + CLAIM_TTL_MARGIN_SECONDS)
        return ttl

    def claimed_batches(self, status: str | Sequence[str], *, require_packed: bool = False) -> Iterator[list[str]]:
        """Batches of orders in `status` (one or several, from orderflow.lifecycle) leased to this
        task instance, until none is left."""
        ttl = self.claim_ttl_seconds()
        while True:
            ids = self.store.claim_orders(
                status,
                step=self.step,
                owner=self.claim_owner,
                limit=max(1, min(self.settings.batch_size, 100)),
                ttl_seconds=ttl,
                require_packed=require_packed,
                shard=self.shard,
                shards=self.shards,
                holder=self.claim_try,
                ended_tries=self.ended_claim_tries(status),
            )
            if not ids:
                return
            self.log.info("claimed %d %s order(s)", len(ids), status)
            yield ids

    def ended_claim_tries(self, status: str | Sequence[str]) -> list[tuple[str, int]]:
        """``(owner, try_number)`` of the tries holding orders in `status` that Airflow shows ended
        (failed, stopped, killed, zombie): their claims are free now, not at their expiry."""
        from orderflow.operators.claim_tries import ended_tries, task_states

        holders = self.store.claim_holders(status, owner=self.claim_owner)
        if not holders:
            return []
        ended = ended_tries(holders, task_states(self._ti, holders))
        for owner, try_number, state in ended:
            held = next(h["orders"] for h in holders if h["claimed_by"] == owner)
            self.log.warning("taking %d order(s) claimed by %s try %d: Airflow shows that task instance %s",
                             held, owner, try_number, state)
        return [(owner, try_number) for owner, try_number, _ in ended]

    # -- history --------------------------------------------------------------------------------
    def detail(self, **values: Any) -> dict[str, Any]:
        return {"step": self.step, "run_id": self.run_id, "try_number": self.try_number, **values}

    def transition(
        self,
        order_id: str,
        to_status: str,
        *,
        expected_from: str | Sequence[str | None],
        **detail: Any,
    ) -> bool:
        """Record one outcome (and release the order's claim). False when the order moved meanwhile."""
        from orderflow.store import StaleStatus, TransitionRefused

        try:
            self.store.record_transition(
                order_id,
                to_status,
                detail=self.detail(**detail),
                run_id=self.run_id,
                actor=self.actor,
                expected_from=expected_from,
                release_owner=self.claim_owner,
            )
        except (StaleStatus, TransitionRefused) as exc:
            # Someone else (a person, ingest seeing a cancellation) moved the order: theirs stands.
            self.log.warning("%s: not recording %s: %s", order_id, to_status, exc)
            self.result.record_waiting(order_id, f"moved meanwhile: {exc}")
            return False
        if self.failed_status and to_status == self.failed_status:
            self.result.record_failed(order_id, {"status": to_status, **detail})
        else:
            self.result.record_done(order_id, to_status)
        return True

    def fail(self, order_id: str, *, expected_from: str | Sequence[str], reason: str, **detail: Any) -> None:
        assert self.failed_status
        self.transition(order_id, self.failed_status, expected_from=expected_from, reason=reason, **detail)


class MiraklOrderStepOperator(OrderStepOperator):
    """An order step that reads orders back from Best Buy (OR11 by order_ids, <= 100 ids a call)."""

    def refresh_from_mirakl(self, hook: MiraklHook, order_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """OR11 by order_ids; store what came back (state, address) and return it keyed by order id.

        API errors propagate (callers classify them); a malformed order is logged and left out.
        """
        from orderflow.hooks.mirakl_records import order_from_payload

        ids = list(dict.fromkeys(order_ids))
        if not ids:
            return {}
        payloads = hook.list_orders(order_ids=ids)
        self.result.count_call("OR11", -(-len(ids) // 100))
        records = []
        usable: dict[str, dict[str, Any]] = {}
        for payload in payloads:
            try:
                record = order_from_payload(payload)
            except ValueError as exc:
                self.log.error("OR11 returned a malformed order, not stored: %s", exc)
                continue
            records.append(record)
            usable[record.order_id] = payload
        if records:
            self.store.upsert_orders(records)
        return usable

    def read_batch(self, hook: MiraklHook, order_ids: Sequence[str]) -> dict[str, dict[str, Any]] | None:
        """:meth:`refresh_from_mirakl`, or None (and every one of the orders transient) when Best Buy
        cannot say; an error about the Connection stops the step."""
        try:
            return self.refresh_from_mirakl(hook, order_ids)
        except Exception as exc:
            kind = self.triage(exc, "Mirakl")
            for oid in order_ids:
                self.result.record_transient(oid, f"OR11: {exc}")
            self.log.warning("OR11 look-up of %d order(s) failed (%s): %s", len(order_ids), kind, exc)
            return None

    def returned(
        self, batch: Sequence[str], remote: Mapping[str, dict[str, Any]]
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """``(order_id, Best Buy's copy)`` of each order of the batch OR11 returned; one it did not
        return stays in its input state (transient)."""
        for order_id in batch:
            payload = remote.get(order_id)
            if payload is None:
                self.result.record_transient(order_id, "not returned by OR11")
                continue
            yield order_id, payload

    def mirakl_hook(self) -> MiraklHook:
        from orderflow.hooks.mirakl import MiraklHook

        hook = MiraklHook(self.mirakl_conn_id)
        hook.get_conn()  # build the session once, before worker threads share the hook
        return hook


class RunVerdictOperator(BaseOperator):
    """The run's last task: fails when any step failed, skipped otherwise.

    Later steps run even when an earlier one failed (trigger rule ``all_done``: one bad order must not
    hold up the tracking of the others), and Airflow derives a run's state from its *leaf* tasks, so
    without this task a run whose shipping step failed would end green. Depend it on every task.
    """

    ui_color = "#f4d9d9"

    def __init__(self, **kwargs: Any) -> None:
        from airflow.sdk import TriggerRule

        kwargs.setdefault("trigger_rule", TriggerRule.ONE_FAILED)
        super().__init__(**kwargs)

    def execute(self, context: Context) -> None:
        raise AirflowFailException(
            "a step of this run failed; its task log lists the orders, clearing it re-attempts them"
        )
