"""Claims of tries that have ended: asked of Airflow, released at once (issue 12 item 9).

A try stopped from outside (its task instance marked failed, its run stopped, the worker killed or
found a zombie) never reaches the ``finally`` that releases its claims; they used to hold its orders
until they expired (the task's execution_timeout plus a margin, 50 minutes by default), so the next
runs left those orders untouched. Each claim names the try that took it (``order_claims.dag_id`` ...
``try_number``); before claiming, a step asks Airflow (through the Task SDK, the way a task may read
the metadata DB in Airflow 3) for the state of the task instances holding its input orders, and the
claims of a try that is no longer running are taken like expired ones.

Conservative on purpose: a task instance Airflow does not know (a claim taken outside a task, a run
deleted since) holds its claims until they expire; so does one still ``running`` or ``restarting``
(cleared while running: the old try is being stopped, not stopped yet). The exactly-once protocol
does not rest on this: a try presumed dead that is in fact still at work is kept off a package by
the per-request-id advisory lock, and the intent row it left is looked up, never bought again.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

log = logging.getLogger(__name__)

# Task instance states in which the try that took a claim may still be at work.
HOLDING_STATES = frozenset({"running", "restarting", "deferred", "up_for_reschedule"})

#: {dag_id: {run_id: {task key: state}}} as the Task SDK's get_task_states answers per dag_id.
TaskStates = Mapping[str, Mapping[str, Mapping[str, Any]]]


def task_key(task_id: str, map_index: int | None) -> str:
    """How ``get_task_states`` names a task instance in a run (mapped ones get ``_<index>``)."""
    return task_id if map_index is None or map_index < 0 else f"{task_id}_{map_index}"


def _state(value: Any) -> str | None:
    if value is None:
        return None
    return str(getattr(value, "value", value)).lower()


def ended_tries(holders: Sequence[Mapping[str, Any]], states: TaskStates) -> list[tuple[str, int, str]]:
    """``(claimed_by, try_number, state)`` of the holders whose task instance Airflow knows and shows
    in a state where no try of it runs. Pure."""
    ended: list[tuple[str, int, str]] = []
    for h in holders:
        runs = states.get(h["dag_id"]) or {}
        tasks = runs.get(h["run_id"])
        key = task_key(h["task_id"], h.get("map_index"))
        if not tasks or key not in tasks:
            continue  # unknown to Airflow: wait for the claim's expiry
        state = _state(tasks[key])
        if state in HOLDING_STATES:
            continue
        ended.append((h["claimed_by"], int(h["try_number"]), state or "none"))
    return ended


def task_states(ti: Any, holders: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """Ask Airflow for the states of the holders' task instances, one call per DAG.

    ``ti`` is the running task's instance (``context["ti"]``); outside a task runner (no Task SDK
    supervisor to ask) nothing is known and every claim waits for its expiry.
    """
    get = getattr(ti, "get_task_states", None)
    if get is None or not holders:
        return {}
    by_dag: dict[str, tuple[set[str], set[str]]] = {}
    for h in holders:
        runs, tasks = by_dag.setdefault(h["dag_id"], (set(), set()))
        runs.add(h["run_id"])
        tasks.add(h["task_id"])
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for dag_id, (runs, tasks) in by_dag.items():
        try:
            answer = get(dag_id=dag_id, run_ids=sorted(runs), task_ids=sorted(tasks))
        except Exception as exc:  # no supervisor (a test harness), or the API refused: know nothing
            log.info("cannot ask Airflow about the tries holding claims (%s: %s); they wait for their expiry",
                     type(exc).__name__, exc)
            continue
        out[dag_id] = {run: dict(states or {}) for run, states in (answer or {}).items()}
    return out
