"""The step framework every operator stands on: per-item outcomes, bounded concurrency, the verdict.

One try of a step:

1. **Prepare** (at run time, never at parse time): settings, the order store, the run's identity
   (run id, try number, actor ``<dag_id>.<task_id>``) and an empty :class:`StepResult`.
2. **Begin**: what a step does before its work (the order steps take back their earlier try's
   claims and re-attempt the orders this run failed, see ``operators/base.py``; the messaging
   steps' ledgers carry their own run id, so clearing the task finds this run's failures there).
3. **Work** (``run_step``): items, worked with at most ``max_workers`` threads (:meth:`StepOperator.for_each`);
   each outcome goes into the result: done, waiting (a later run settles it), transient (stays where
   it was), failed (a person looks; the reason and the API's codes kept).
4. **Verdict** (:meth:`StepOperator.conclude`): any permanent failure: ``AirflowFailException``
   listing them, which Airflow never retries by itself (the run is red; clearing the task
   re-attempts exactly what this run failed). Else any transient failure: a retryable error, so
   Airflow retries the task with backoff. Else success, returning the step's XCom.

An error about a Connection (``operators/errors.py``: refused credentials, an unreachable host)
stops the step at once: the task fails naming the Connection, and no item is recorded failed.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol, TypeVar

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException

from orderflow.operators.errors import (
    ConfigurationError,
    ConnectionUnreachable,
    OrderflowTransientError,
    System,
    triage,
)

if TYPE_CHECKING:
    from airflow.sdk import Context

    from orderflow.settings import Settings
    from orderflow.store import OrderStore

log = logging.getLogger(__name__)

Item = TypeVar("Item")
T = TypeVar("T")


class StepLog(Protocol):
    """What the steps' helpers log to: an operator's ``self.log`` or a page's ``logging.Logger``."""

    def info(self, msg: Any, /, *args: Any) -> Any: ...
    def warning(self, msg: Any, /, *args: Any) -> Any: ...
    def error(self, msg: Any, /, *args: Any) -> Any: ...


@dataclass
class StepResult:
    """Per-item outcomes of one try of a step (thread-safe)."""

    step: str
    done: dict[str, str] = field(default_factory=dict)  # item -> status recorded
    waiting: dict[str, str] = field(default_factory=dict)  # item -> why it waits for a later run
    transient: dict[str, str] = field(default_factory=dict)  # item -> error (stays, task retries)
    failed: dict[str, dict[str, Any]] = field(default_factory=dict)  # item -> failure detail
    reattempted: list[str] = field(default_factory=list)
    calls: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record_done(self, key: str, status: str) -> None:
        with self._lock:
            self.done[key] = status
            self.transient.pop(key, None)

    def record_waiting(self, key: str, reason: str) -> None:
        with self._lock:
            self.waiting[key] = reason

    def record_transient(self, key: str, error: str) -> None:
        with self._lock:
            self.transient[key] = error

    def record_failed(self, key: str, detail: Mapping[str, Any]) -> None:
        with self._lock:
            self.failed[key] = dict(detail)
            self.transient.pop(key, None)

    def count_call(self, name: str, n: int = 1) -> None:
        with self._lock:
            self.calls[name] = self.calls.get(name, 0) + n

    def summary(self) -> dict[str, Any]:
        by_status: dict[str, int] = {}
        for status in self.done.values():
            by_status[status] = by_status.get(status, 0) + 1
        return {
            "step": self.step,
            "recorded": by_status,
            "waiting": len(self.waiting),
            "transient": len(self.transient),
            "failed": len(self.failed),
            "reattempted": len(self.reattempted),
            "calls": dict(self.calls),
        }


class StepOperator(BaseOperator):
    """Base of every orderflow step: see the module docstring for prepare/begin/work/verdict."""

    #: the step's name: claims, history details, log and verdict lines
    step: ClassVar[str] = ""
    #: which attribute names the Connection of each system (for the task's connection errors)
    conn_id_attributes: ClassVar[dict[System, str]] = {
        "Mirakl": "mirakl_conn_id",
        "Canada Post": "canadapost_conn_id",
    }

    def __init__(
        self,
        *,
        orderflow_conn_id: str = "orderflow_db",
        mirakl_conn_id: str = "mirakl_default",
        max_workers: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.orderflow_conn_id = orderflow_conn_id
        self.mirakl_conn_id = mirakl_conn_id
        #: items worked at once (None: settings' ``max_workers``)
        self.max_workers = max_workers

    # -- set up per execution (never at parse time) --------------------------------------------
    def worker_count(self, settings: Settings) -> int:
        """How many items are worked at once."""
        return max(1, self.max_workers or settings.max_workers)

    def _prepare(self, context: Mapping[str, Any]) -> None:
        from orderflow.settings import Settings
        from orderflow.store import OrderStore

        self.settings: Settings = Settings.load()
        self.workers: int = self.worker_count(self.settings)
        # Worker threads each hold a connection for a call's duration (shipping also holds one
        # advisory-lock session per thread, an auto-reply its ledger row's lock): size the pool so a
        # thread never finds it exhausted.
        self.store: OrderStore = OrderStore.from_conn_id(self.orderflow_conn_id, max_connections=2 * self.workers + 2)
        ti = context.get("ti")
        self.run_id: str = context["run_id"]
        self.try_number: int = int(getattr(ti, "try_number", 1) or 1)
        self.actor: str = f"{self.dag_id}.{self.task_id}"
        self._ti = ti
        self.result = StepResult(self.step)

    def execute(self, context: Context) -> dict[str, Any]:
        self._prepare(context)
        try:
            self.begin()
            self.run_step(context)
        finally:
            self.end()
            self.store.close()
        return self.conclude()

    def begin(self) -> None:
        """Before the work (inside the try whose ``finally`` runs :meth:`end`)."""

    def end(self) -> None:
        """After the work, whatever happened."""

    def run_step(self, context: Context) -> None:
        raise NotImplementedError

    # -- errors ---------------------------------------------------------------------------------
    def triage(self, exc: BaseException, system: System) -> Literal["permanent", "transient"]:
        """``errors.triage`` for this step: an error about `system`'s Connection stops the step."""
        conn_id = str(getattr(self, self.conn_id_attributes[system]))
        return triage(exc, step=self.step, system=system, conn_id=conn_id)

    def connect(self, system: System, read: Callable[[], T]) -> T:
        """``read()`` the hook's Connection once (before worker threads share the hook); a Connection
        missing what the hook requires (``ValueError``) stops the step."""
        try:
            return read()
        except ValueError as exc:
            raise ConfigurationError(f"{self.step}: the {system} connection is incomplete: {exc}") from exc

    # -- concurrency ----------------------------------------------------------------------------
    def for_each(
        self,
        items: Iterable[Item],
        work: Callable[[Item], None],
        *,
        key: Callable[[Item], str],
        contain_unexpected: bool = True,
    ) -> None:
        """Run `work(item)` for each item on at most ``self.workers`` threads.

        A connection error stops the step (raised after the running calls finish). Any other
        unexpected exception leaves that item where it was as a transient failure, so one odd item
        never sinks its batch; with ``contain_unexpected=False`` the other items are still worked and
        the first such exception is raised at the end (a step whose items' state is unknown after a
        surprise, e.g. a reply sent but not recorded).
        """
        items = list(items)
        if not items:
            return
        fatal: list[BaseException] = []
        surprises: list[BaseException] = []

        def guarded(item: Item) -> None:
            if fatal:
                return
            try:
                work(item)
            except (ConfigurationError, ConnectionUnreachable) as exc:
                fatal.append(exc)
            except Exception as exc:
                if not contain_unexpected:
                    surprises.append(exc)
                    return
                self.log.exception("%s: unexpected error, left where it was", key(item))
                self.result.record_transient(key(item), f"{type(exc).__name__}: {exc}")

        workers = max(1, min(self.workers, len(items)))
        if workers == 1:
            for item in items:
                guarded(item)
        else:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"of-{self.step}") as pool:
                list(pool.map(guarded, items))
        if fatal:
            raise fatal[0]
        if surprises:
            raise surprises[0]

    # -- verdict --------------------------------------------------------------------------------
    # What conclude() says about the items of this step; a step working on something other than
    # orders (void_labels: shipments) overrides these, not conclude().
    failed_log_prefix: ClassVar[str] = "FAILED"
    transient_log_template: ClassVar[str | None] = "transient failure, order left in its input state: %s: %s"

    def failure_line(self, key: str, detail: dict[str, Any]) -> str:
        return f"  {key} -> {detail.get('status')}: {detail.get('reason')} {detail.get('codes') or ''}".rstrip()

    def failed_message(self, count: int) -> str:
        return f"{self.step}: {count} order(s) failed permanently (clear this task to re-attempt them):\n"

    def transient_message(self, count: int) -> str:
        return f"{self.step}: {count} order(s) hit transient errors and stay in their input state; retrying: "

    def xcom(self) -> dict[str, Any]:
        """What a successful try returns."""
        return self.result.summary()

    def conclude(self) -> dict[str, Any]:
        r = self.result
        self.log.info("%s summary: %s", self.step, r.summary())
        for key, reason in sorted(r.waiting.items()):
            self.log.info("waiting: %s (%s)", key, reason)
        if self.transient_log_template is not None:
            for key, error in sorted(r.transient.items()):
                self.log.warning(self.transient_log_template, key, error)
        if r.failed:
            lines = [self.failure_line(key, d) for key, d in sorted(r.failed.items())]
            for line in lines:
                self.log.error("%s%s", self.failed_log_prefix, line)
            raise AirflowFailException(self.failed_message(len(r.failed)) + "\n".join(lines))
        if r.transient:
            raise OrderflowTransientError(
                self.transient_message(len(r.transient)) + ", ".join(sorted(r.transient)[:20])
            )
        return self.xcom()
