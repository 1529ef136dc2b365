"""Scaling out (issue 15): the pipeline over shards through a real scheduler, memory per task process,
and label buying against the limits with 4 shards on 2 Celery workers.

Every configuration (``ORDERFLOW_SHARDS`` x executor) is one scheduled run of orderflow_core on
the topology ``tools/cluster.py`` starts (bench/cluster_run.py): LocalExecutor (no worker; the
scheduler's own task processes, ``AIRFLOW__CORE__PARALLELISM`` of them at most) and CeleryExecutor on
a private Redis with 2 ``airflow celery worker`` processes. The sandbox (its own process) adds
``latency_ms`` to every call and enforces no rate limit; the hooks' client-side limits are off.

Measured per configuration: the span from the first ingest task's start to the last tracking
task's end (what a seller waits for; it includes the scheduler's gaps between tasks), the DAG run's
wall time, the ratio to the serial seed baseline measured in the same bench run, the ratio to the
latency bound, and the peak RSS of every task process (``VmHWM`` from ``/proc``).

The latency bound: every order needs ``UNBATCHABLE_CALLS`` calls that have no batch form (OR21
accept, Canada Post create, label download, OR23 tracking, OR24 ship), each at least
``latency_ms``; with ``C`` calls in flight at once that is ``orders x 5 x latency / C`` seconds.
``C`` is what the budgets allow: with the client limits off (this run) the only budget is the
threads, ``ORDERFLOW_MAX_WORKERS`` per shard times the shards that can run at once (all of them
here: parallelism and worker slots exceed the shard count). The printed note shows the numbers.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from typing import Any

from bench import env as benv
from bench import limits as limits_mod
from bench.report import Section

RATIO_TARGET = 20.0
BOUND_RATIO_TARGET = 1.5
RSS_TARGET_MIB = 300
UNBATCHABLE_CALLS = 5  # OR21, create shipment, label download, OR23, OR24
DEFAULT_MAX_WORKERS = 16  # orderflow.settings.Settings.max_workers
ORDER_STEP_TASKS = ("ingest", "acceptance", "shipping", "tracking")


def latency_bound(orders: int, latency_ms: float, shards: int, max_workers: int) -> tuple[float, str]:
    """(seconds, how it was computed) of the API latency floor for ``orders``."""
    concurrency = shards * max_workers
    seconds = orders * UNBATCHABLE_CALLS * latency_ms / 1000 / concurrency
    how = (f"{orders} orders x {UNBATCHABLE_CALLS} unbatchable calls x {latency_ms:g} ms / "
           f"({shards} shards x {max_workers} threads = {concurrency} calls in flight) = {seconds:.1f} s")
    return seconds, how


def order_span(tis: list[dict[str, Any]]) -> float | None:
    starts = [t["start"] for t in tis if t["start"] and benv.step_of(t["task_id"]) == "ingest"]
    ends = [t["end"] for t in tis if t["end"] and benv.step_of(t["task_id"]) == "tracking"]
    return (max(ends) - min(starts)) if starts and ends else None


def cpu_breakdown(result: dict[str, Any]) -> dict[str, float]:
    """CPU seconds the run used: per order step (its task processes, every try), the Airflow
    components, PostgreSQL's backends for the run's databases, the sandbox, and their total."""
    groups = result.get("cpu_s") or {}
    steps = {f"task:{t['id']}": benv.step_of(t["task_id"]) for t in result["task_instances"] + result["earlier_tries"]
             if t.get("id")}
    out: dict[str, float] = {}
    for group, seconds in groups.items():
        name = steps.get(group, "other tasks") if group.startswith("task:") else group
        out[name] = out.get(name, 0.0) + seconds
    if result.get("sandbox_cpu_s") is not None:
        out["sandbox"] = float(result["sandbox_cpu_s"])
    out["total"] = sum(out.values())
    return out


def configurations(shards: tuple[int, ...], executors: tuple[str, ...]) -> list[tuple[str, int]]:
    return [(executor, n) for executor in executors for n in shards]


def _sandbox_env(sb: Any, order_db: str, home: str, settings: dict[str, str], *, limits: bool) -> dict[str, str]:
    if limits:
        conns = benv.connections(sb, mirakl_limits=None, canadapost_limits=limits_mod.HOOK_LIMITS)
    else:
        conns = benv.connections(sb, mirakl_limits=benv.MIRAKL_NO_LIMITS, canadapost_limits=benv.CANADAPOST_NO_LIMITS)
    env = benv.airflow_env(home, order_db=order_db, metadata_db="", conns=conns, settings=settings)
    env["ORDERFLOW_DATABASE_URL"] = order_db
    return env


def measure(executor: str, shards: int, *, orders: int, latency_ms: float, workers: int,
            max_workers: int | None, log: Callable[[str], None]) -> dict[str, Any]:
    from bench.cluster_run import scheduled_run
    from bench.sandbox_proc import sandbox_process

    settings = {"ORDERFLOW_SHARDS": str(shards)}
    if max_workers:
        settings["ORDERFLOW_MAX_WORKERS"] = str(max_workers)
    tag = f"{executor[:3]}{shards}"
    with (
        benv.order_database(f"sc{tag}") as order_db,
        tempfile.TemporaryDirectory(prefix="orderflow-bench-scaling-") as home,
        sandbox_process(seed=15, debit_delay=0.05, rate_limits=False) as sb,
    ):
        sb.set_faults("mirakl", "*", latency_ms=latency_ms)
        sb.set_faults("canadapost", "*", latency_ms=latency_ms)
        env = _sandbox_env(sb, order_db, home, settings, limits=False)
        log(f"scaling: {executor} executor, {workers if executor == 'celery' else 0} workers, "
            f"SHARDS={shards}, {orders} orders, {latency_ms:g} ms per call")
        cpu0 = sb.cpu_seconds()
        result = scheduled_run(env, executor=executor, workers=workers if executor == "celery" else 0, tag=tag,
                               before_unpause=lambda: sb.generate_orders(orders), log=log)
        result["sandbox_cpu_s"] = sb.cpu_seconds() - cpu0
        result["final_statuses"] = benv.final_statuses(order_db)
        result["shards"] = shards
        return result


def report_config(section: Section, mem: dict[str, Any], result: dict[str, Any], *, orders: int, latency_ms: float,
                  baseline: dict[str, Any] | None, max_workers: int) -> None:
    executor, shards = result["executor"], result["shards"]
    name = f"{'Celery, ' + str(result['workers']) + ' workers' if executor == 'celery' else 'LocalExecutor'}, " \
           f"SHARDS={shards}"
    tis = result["task_instances"]
    shipped = result["final_statuses"].get("shipped", 0)
    span = order_span(tis)
    dag_run = result["dag_run"]
    wall = (dag_run["end_date"] - dag_run["start_date"]) if dag_run.get("end_date") else None
    section.add(f"{name}: orders shipped", shipped, "", f">= {orders}",
                note=", ".join(f"{k}: {v}" for k, v in result["final_statuses"].items() if k != "shipped"))
    per_step = []
    for step in ORDER_STEP_TASKS:
        group = [t for t in tis if benv.step_of(t["task_id"]) == step and t["start"] and t["end"]]
        if group:
            per_step.append(f"{step} {max(t['end'] for t in group) - min(t['start'] for t in group):.1f} s")
    section.add(f"{name}: first ingest start -> last tracking end", round(span, 1) if span else None, "s",
                note="; ".join(per_step) + f"; DAG run {wall:.0f} s" if wall else "; ".join(per_step))
    if span and shipped:
        section.add(f"{name}: orders per minute", round(shipped / (span / 60), 1), "orders/min")
    if baseline and baseline.get("per_order_s") and span:
        seconds_at_n = baseline["per_order_s"] * orders
        section.add(f"{name}: speed-up vs serial baseline", round(seconds_at_n / span, 1), "x",
                    f">= {RATIO_TARGET:g}", note=f"baseline {seconds_at_n:.0f} s for {orders} orders / {span:.1f} s")
    bound, how = latency_bound(orders, latency_ms, shards, max_workers)
    if span:
        section.add(f"{name}: ratio to the latency bound", round(span / bound, 2), "x", f"<= {BOUND_RATIO_TARGET:g}",
                    note=how)
    if result.get("cpu_s"):
        cpu = cpu_breakdown(result)
        cores = os.cpu_count() or 1
        section.add(f"{name}: CPU used by the run's processes", round(cpu["total"], 1), "s",
                    note="; ".join(f"{k} {v:.1f} s" for k, v in sorted(cpu.items(), key=lambda kv: -kv[1])
                                   if k != "total") + f" (over {result.get('cpu_window_s', 0):.0f} s from unpause)")
        if span:
            floor = cpu["total"] / cores
            section.add(f"{name}: span / CPU floor ({cores} cores)", round(span / floor, 2), "x",
                        note=f"{cpu['total']:.1f} s of CPU / {cores} cores = {floor:.1f} s: a span near 1x is "
                             "bound by this machine's cores, not by the API latency")
    retries = len(result["earlier_tries"])
    hosts = sorted({(t["hostname"] or "?").split(".", 1)[0] for t in tis
                    if benv.step_of(t["task_id"]) in ("acceptance", "shipping", "tracking")})
    section.add(f"{name}: task instances", len(tis) + retries, "",
                note=f"{retries} retries; sharded steps ran on {', '.join(hosts)}; "
                     f"components up in {result.get('startup_s', 0):.0f} s (not counted)")
    peaks = [(t["task_process_peak_rss_mib"], t["task_id"], t["map_index"]) for t in tis + result["earlier_tries"]
             if t["task_process_peak_rss_mib"]]
    if peaks:
        top = max(peaks)
        mem[name] = {f"{task}[{idx}]": rss for rss, task, idx in peaks}
        section.add(f"{name}: peak RSS of a task process", top[0], "MiB", f"< {RSS_TARGET_MIB}",
                    note=f"{top[1]}[{top[2]}]; {len(peaks)} task processes seen (VmHWM from /proc)")


def run(section: Section, *, orders: int, latency_ms: float, shards: tuple[int, ...], executors: tuple[str, ...],
        workers: int, max_workers: int | None, baseline: dict[str, Any] | None,
        log: Callable[[str], None] = print) -> None:
    import os

    mem: dict[str, Any] = {}
    section.details.update({"orders": orders, "latency_ms": latency_ms, "runs": [], "load_avg_before":
                            os.getloadavg()})
    for executor, n in configurations(shards, executors):
        started = time.time()
        try:
            result = measure(executor, n, orders=orders, latency_ms=latency_ms, workers=workers,
                             max_workers=max_workers, log=log)
        except Exception as exc:  # one configuration failing does not hide the others
            section.add(f"{executor} SHARDS={n}: error", f"{type(exc).__name__}: {exc}"[:300])
            continue
        result["load_avg_after"] = os.getloadavg()
        result["bench_seconds"] = time.time() - started
        report_config(section, mem, result, orders=orders, latency_ms=latency_ms, baseline=baseline,
                      max_workers=max_workers or DEFAULT_MAX_WORKERS)
        section.details["runs"].append(result)
    section.details["task_process_rss_mib"] = mem
    section.details["load_avg_after"] = os.getloadavg()
    section.notes.append("Spans include the scheduler's gaps between tasks; component start-up is not counted. "
                         "The machine is shared: see load_avg_* in the details.")


def run_limits(section: Section, *, seconds: float, orders: int, latency_ms: float, shards: int, workers: int,
               max_workers: int | None = None, log: Callable[[str], None] = print) -> None:
    """Label buying at 20 creates/min with ``shards`` shards on ``workers`` Celery workers (shared budgets)."""
    from bench.cluster_run import scheduled_run
    from bench.sandbox_proc import sandbox_process

    state: dict[str, Any] = {"first_create": None, "stopped_at": None}
    with (
        benv.order_database("sclim") as order_db,
        tempfile.TemporaryDirectory(prefix="orderflow-bench-sclimits-") as home,
        sandbox_process(seed=9, debit_delay=0.05, rate_limits=True) as sb,
    ):
        sb.set_limits("canadapost", **limits_mod.CREATE_ENDPOINT_LIMITS)
        sb.set_faults("mirakl", "*", latency_ms=latency_ms)
        sb.set_faults("canadapost", "*", latency_ms=latency_ms)
        limits_seen = {"mirakl": sb.limits("mirakl"), "canadapost": sb.limits("canadapost")}
        settings = {"ORDERFLOW_SHARDS": str(shards)}
        if max_workers:
            settings["ORDERFLOW_MAX_WORKERS"] = str(max_workers)
        env = _sandbox_env(sb, order_db, home, settings, limits=True)

        def watch() -> bool:
            if state["first_create"] is None:
                creates = sb.calls("canadapost", "create_shipment")
                if creates:
                    state["first_create"] = creates[0].ts
                    log(f"scaling limits: first label created; buying labels for {seconds:g} s")
                return False
            if time.time() >= state["first_create"] + seconds + 1:
                state["stopped_at"] = time.time()
                return True
            return False

        log(f"scaling limits: {orders} orders, {shards} shards on {workers} Celery workers, 20 creates/min")
        result = scheduled_run(env, executor="celery", workers=workers, tag="lim", log=log, watch=watch,
                               before_unpause=lambda: sb.generate_orders(orders), timeout=seconds + 900)
        calls = benv.call_rows(sb, "mirakl") + benv.call_rows(sb, "canadapost")
        statuses = benv.final_statuses(order_db)
    limits_mod.report(section, calls, statuses, state, seconds=seconds, orders=orders, limits_seen=limits_seen,
                      result={"state": result.get("state"), "stopped": result.get("abandoned")})
    section.details["topology"] = {"executor": "celery", "workers": workers, "shards": shards,
                                   "hosts": sorted({(t["hostname"] or "?").split(".", 1)[0]
                                                    for t in result.get("task_instances", [])})}
