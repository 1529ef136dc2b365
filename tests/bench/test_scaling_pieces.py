"""The cheap pieces of the scaling benchmark (bench/scaling.py, bench/cluster_run.py), without a cluster.

A real scheduler start takes minutes on this machine, too slow for a smoke test: `python -m bench
--quick --only baseline,scaling` runs the whole path at 20 orders, SHARDS=2, LocalExecutor. Here: the
options, the latency bound, the per-task-process RSS reader against a real process, and the report of
one configuration. No timing is asserted.
"""

from __future__ import annotations

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
