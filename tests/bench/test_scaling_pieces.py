"""The cheap pieces of the scaling benchmark (bench/scaling.py, bench/cluster_run.py), without a cluster.

A real scheduler start takes minutes on this machine, too slow for a smoke test: `python -m bench
--quick --only baseline,scaling` runs the whole path at 20 orders, SHARDS=2, LocalExecutor. Here: the
options, the latency bound, the per-task-process RSS reader against a real process, and the report of
one configuration. No timing is asserted.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid

from bench import scaling
from bench.__main__ import parse_args
from bench.cluster_run import TaskRss
from bench.report import Section


def test_quick_leaves_the_cluster_out_unless_named_and_then_runs_it_tiny() -> None:
    assert "scaling" not in parse_args(["--quick"]).parts
    args = parse_args(["--quick", "--only", "baseline,scaling"])
    assert args.parts == ["baseline", "scaling"]
    assert (args.scaling_orders, args.scaling_shards, args.scaling_executors) == (20, "2", "local")
    assert args.scaling_limits_seconds == 0
    full = parse_args([])
    assert "scaling" in full.parts
    assert (full.scaling_orders, full.scaling_shards, full.scaling_executors, full.scaling_workers) == (
        1000, "1,2,4", "local,celery", 2)
    assert scaling.configurations((1, 2, 4), ("local", "celery")) == [
        ("local", 1), ("local", 2), ("local", 4), ("celery", 1), ("celery", 2), ("celery", 4)]


def test_latency_bound_is_five_calls_per_order_over_the_calls_in_flight() -> None:
    seconds, how = scaling.latency_bound(1000, 50.0, 4, 16)
    assert seconds == 1000 * 5 * 0.05 / 64
    assert "64 calls in flight" in how and "5 unbatchable calls" in how


def test_task_rss_reads_the_peak_of_a_process_titled_as_an_airflow_task() -> None:
    ti_id = str(uuid.uuid4())
    code = ("import setproctitle, sys, time; setproctitle.setproctitle('airflow worker -- ' + sys.argv[1]); "
            "block = bytearray(80 * 1024 * 1024); print('ready', flush=True); del block; time.sleep(30)")
    proc = subprocess.Popen([sys.executable, "-c", code, ti_id], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        rss = TaskRss()
        deadline = time.monotonic() + 10
        while ti_id not in rss.peaks_kib and time.monotonic() < deadline:
            rss.sample()
        # The block was freed before the sample: the high-water mark still holds it.
        assert rss.peaks_kib[ti_id] >= 80 * 1024
        assert rss.pids[ti_id] == {proc.pid}
    finally:
        proc.kill()
        proc.wait()


def test_one_configuration_reports_span_ratios_and_task_memory() -> None:
    t0 = 1_000_000.0

    def ti(task_id: str, start: float, end: float, idx: int = -1, rss: float | None = None) -> dict:
        return {"task_id": task_id, "map_index": idx, "try_number": 1, "state": "success",
                "hostname": "worker1.local", "start": t0 + start, "end": t0 + end, "duration_s": end - start,
                "task_process_peak_rss_mib": rss}

    result = {"executor": "celery", "workers": 2, "shards": 2, "startup_s": 40.0,
              "final_statuses": {"shipped": 100}, "earlier_tries": [],
              "dag_run": {"start_date": t0 - 1, "end_date": t0 + 31},
              "task_instances": [ti("ingest.ingest_orders", 0, 2, rss=200.0),
                                 ti("acceptance.accept_orders", 3, 8, 0, 210.0),
                                 ti("shipping.buy_labels", 9, 20, 1, 250.5),
                                 ti("tracking.push_tracking", 21, 30, 0)]}
    section, mem = Section("scaling", "t"), {}
    scaling.report_config(section, mem, result, orders=100, latency_ms=50.0,
                          baseline={"per_order_s": 0.45}, max_workers=16)
    values = {m.name: m.value for m in section.metrics}
    prefix = "Celery, 2 workers, SHARDS=2"
    assert values[f"{prefix}: first ingest start -> last tracking end"] == 30.0
    assert values[f"{prefix}: orders per minute"] == 200.0
    assert values[f"{prefix}: speed-up vs serial baseline"] == 1.5  # 45 s / 30 s
    assert values[f"{prefix}: ratio to the latency bound"] == round(30 / (100 * 5 * 0.05 / 32), 2)
    assert values[f"{prefix}: peak RSS of a task process"] == 250.5
    assert mem[prefix]["shipping.buy_labels[1]"] == 250.5


def test_cpu_counts_the_roots_process_group_after_the_first_sample_and_not_strangers() -> None:
    # A root (own session, like tools.cluster's components) whose child burns CPU after the first
    # sample; a stranger burning CPU the whole time must not be counted.
    burn = "import time, sys; t = time.process_time() + float(sys.argv[1]); print('go', flush=True)\n" \
           "while time.process_time() < t: pass\ntime.sleep(30)"
    root = subprocess.Popen([sys.executable, "-c", "import subprocess, sys; sys.stdin.readline(); "
                             f"subprocess.run([sys.executable, '-c', {burn!r}, '0.6'])"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, start_new_session=True)
    stranger = subprocess.Popen([sys.executable, "-c", burn, "0.6"], stdout=subprocess.PIPE, text=True)
    try:
        assert stranger.stdout is not None and stranger.stdout.readline().strip() == "go"
        rss = TaskRss(roots=lambda: {root.pid})
        rss.sample()  # the root's CPU so far (its start-up) is not the run's
        assert root.stdin is not None and root.stdout is not None
        root.stdin.write("\n")
        root.stdin.flush()
        assert root.stdout.readline().strip() == "go"
        deadline = time.monotonic() + 20
        while rss.cpu_seconds().get("component", 0.0) < 0.55 and time.monotonic() < deadline:
            time.sleep(0.1)
            rss.sample()
        used = rss.cpu_seconds()
        assert 0.55 <= used["component"] < 1.5
        # The stranger is nobody's (task processes of another run on this machine may be seen).
        assert {k for k in used if not k.startswith("task:")} == {"component"}
    finally:
        os.killpg(root.pid, signal.SIGKILL)
        stranger.kill()
        root.wait()
        stranger.wait()


def test_cpu_breakdown_maps_task_processes_to_their_step_and_reports_the_cpu_floor() -> None:
    t0 = 1_000_000.0

    def ti(ti_id: str, task_id: str, start: float, end: float) -> dict:
        return {"id": ti_id, "task_id": task_id, "map_index": 0, "try_number": 1, "state": "success",
                "hostname": "h", "start": t0 + start, "end": t0 + end, "duration_s": end - start,
                "task_process_peak_rss_mib": None}

    result = {"executor": "local", "workers": 0, "shards": 2, "final_statuses": {"shipped": 10},
              "dag_run": {"start_date": t0, "end_date": t0 + 20}, "sandbox_cpu_s": 3.0, "cpu_window_s": 25.0,
              "task_instances": [ti("a", "ingest.ingest_orders", 0, 2), ti("b", "shipping.buy_labels", 3, 10),
                                 ti("c", "shipping.buy_labels", 3, 11), ti("d", "tracking.push_tracking", 12, 20)],
              "earlier_tries": [ti("e", "shipping.buy_labels", 1, 2)],
              "cpu_s": {"task:a": 1.0, "task:b": 4.0, "task:c": 5.0, "task:e": 0.5, "task:zz": 0.25,
                        "component": 6.0, "postgres": 2.0}}
    cpu = scaling.cpu_breakdown(result)
    assert cpu == {"ingest": 1.0, "shipping": 9.5, "other tasks": 0.25, "component": 6.0, "postgres": 2.0,
                   "sandbox": 3.0, "total": 21.75}
    section = Section("scaling", "t")
    scaling.report_config(section, {}, result, orders=10, latency_ms=50.0, baseline=None, max_workers=16)
    values = {m.name: m.value for m in section.metrics}
    cores = os.cpu_count() or 1
    assert values["LocalExecutor, SHARDS=2: CPU used by the run's processes"] == 21.8
    assert values[f"LocalExecutor, SHARDS=2: span / CPU floor ({cores} cores)"] == round(20 / (21.75 / cores), 2)
