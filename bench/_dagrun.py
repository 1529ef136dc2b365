"""Child process of the pipeline and limits benchmarks: one real ``dag.test()`` run of orderflow_core.

``python -m bench._dagrun <output.json> [--migrate] [--warmup]``. With ``--warmup`` a first run over
whatever the sandbox holds absorbs dag.test()'s one-time start-up; the child then writes
``<output.json>.ready`` and waits for the parent's ``<output.json>.go`` before the measured run.
The environment (Airflow home, metadata DB, connections to the sandbox, ORDERFLOW_* settings) is
set by the parent before this process starts, so Airflow reads it on first import, as a worker would.

Writes: every task instance (state, try, start/end, duration, RSS peak while it ran), the run's
state and wall time, and the process's peak RSS. A sampler thread reads ``/proc/self/status``
every 20 ms; since every task of ``dag.test()`` runs in this one process, a task's RSS peak
includes what earlier tasks left allocated (an upper bound for that task in its own worker).
"""

from __future__ import annotations

import json
import os
import resource
import sys
import threading
import time
from pathlib import Path
from typing import Any


def rss_kib() -> int:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Sampler(threading.Thread):
    def __init__(self, interval: float = 0.02) -> None:
        super().__init__(name="rss-sampler", daemon=True)
        self.interval = interval
        self.samples: list[tuple[float, int, float]] = []  # (time, RSS KiB, process CPU seconds)
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            cpu = os.times()
            self.samples.append((time.time(), rss_kib(), cpu.user + cpu.system))
            time.sleep(self.interval)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=2)

    def peak_between(self, start: float, end: float) -> int | None:
        values = [kib for t, kib, _ in self.samples if start <= t <= end]
        return max(values) if values else None

    def cpu_between(self, start: float, end: float) -> float | None:
        inside = [cpu for t, _, cpu in self.samples if start <= t <= end]
        return (inside[-1] - inside[0]) if len(inside) > 1 else None


def main(argv: list[str]) -> int:
    out = Path(argv[0])
    migrate = "--migrate" in argv
    mark_success = None
    if "--mark-success" in argv:
        mark_success = argv[argv.index("--mark-success") + 1]
    t_start = time.time()
    if migrate:
        from airflow.utils import db as airflow_db

        airflow_db.resetdb()
    t_imported = time.time()
    from airflow.dag_processing.dagbag import DagBag

    repo = Path(__file__).resolve().parent.parent
    bag = DagBag(dag_folder=str(repo / "dags" / "orderflow_core.py"))
    if bag.import_errors:
        raise SystemExit(f"DAG import errors: {bag.import_errors}")
    dag = bag.get_dag("orderflow_core")
    warmup_s = 0.0
    if "--warmup" in argv:
        # dag.test() builds its in-process execution API on the first task of the first run (several
        # seconds): a first run over no orders pays it, then the parent adds the orders and says go.
        w0 = time.time()
        dag.test()
        warmup_s = time.time() - w0
        ready, go = Path(str(out) + ".ready"), Path(str(out) + ".go")
        ready.write_text("ready")
        deadline = time.time() + 600
        while not go.exists():
            if time.time() > deadline:
                raise SystemExit("the parent never said go")
            time.sleep(0.05)
    rss_before = rss_kib()
    sampler = Sampler()
    sampler.start()
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.time()
    dag_run = dag.test(mark_success_pattern=mark_success)
    t1 = time.time()
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    sampler.stop()

    from airflow import settings
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.taskinstancehistory import TaskInstanceHistory

    session = settings.Session()
    tis = session.query(TaskInstance).filter(
        TaskInstance.dag_id == dag.dag_id, TaskInstance.run_id == dag_run.run_id
    ).all()
    earlier_tries = session.query(TaskInstanceHistory).filter(
        TaskInstanceHistory.dag_id == dag.dag_id, TaskInstanceHistory.run_id == dag_run.run_id
    ).all()

    def row(ti: Any) -> dict[str, Any]:
        start = ti.start_date.timestamp() if ti.start_date else None
        end = ti.end_date.timestamp() if ti.end_date else None
        return {
            "task_id": ti.task_id,
            "state": str(ti.state.value if hasattr(ti.state, "value") else ti.state),
            "try_number": ti.try_number,
            "start": start,
            "end": end,
            "duration_s": (end - start) if start and end else None,
            "cpu_s": round(sampler.cpu_between(start, end) or 0.0, 2) if start and end else None,
            "rss_peak_mib": round(sampler.peak_between(start, end) / 1024, 1)
            if start and end and sampler.peak_between(start, end)
            else None,
        }

    result = {
        "run_id": dag_run.run_id,
        "state": str(getattr(dag_run.state, "value", dag_run.state)),
        "task_instances": [row(ti) for ti in tis],
        "earlier_tries": [row(ti) for ti in earlier_tries],
        "wall_s": t1 - t0,
        "cpu_s": (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime),
        "dag_test_start": t0,
        "dag_test_end": t1,
        "setup_s": t0 - t_start,
        "warmup_run_s": warmup_s,
        "migrate_s": (t_imported - t_start) if migrate else 0.0,
        "rss_before_first_task_mib": round(rss_before / 1024, 1),
        "ru_maxrss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    out.write_text(json.dumps(result, indent=1, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
