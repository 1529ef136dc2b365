"""One scheduled run of orderflow_core through a real scheduler on this machine (issue 15).

``tools/cluster.py`` (what ``make run`` and tests/cluster start) brings up the api-server, the
scheduler, the dag-processor and, with Celery, a private ``redis-server`` and N ``airflow celery
worker`` processes; with ``executor="local"`` the same components run the LocalExecutor and no
worker. The Airflow metadata database is a copy (``CREATE DATABASE ... TEMPLATE``) of one migrated
once per bench process, so each configuration starts from an empty Airflow in seconds.

While the run goes, :class:`TaskRss` reads ``/proc`` every ``interval`` seconds: every task
process (Airflow 3 titles it ``airflow worker -- <task instance id>``) and its peak RSS
(``VmHWM``, the kernel's high-water mark of the process's resident set), so memory is measured
per task process, as a worker holds it, not in one ``dag.test()`` process holding every task.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from tools import cluster as local_cluster

REPO = Path(__file__).resolve().parent.parent
AIRFLOW = str(Path(sys.executable).parent / "airflow")
TASK_TITLE = "airflow worker -- "

_TEMPLATE: dict[str, Any] = {}


class TaskRss(threading.Thread):
    """Peak RSS (VmHWM) of every live process whose title is Airflow 3's task-process title, and the
    CPU (user + system) the run's processes use while it is sampled.

    CPU groups: ``task:<task instance id>`` (a task process), ``component`` (any other process in the
    process group of one of ``roots()``: the scheduler, workers, api-server, ... and their children),
    and ``postgres`` (server backends whose title names a database containing ``db_marker``). A
    process that was alive at the first sample counts only what it used after it; one that dies
    between two samples loses at most ``interval`` of CPU.
    """

    def __init__(self, interval: float = 0.2, roots: Callable[[], set[int]] | None = None,
                 db_marker: str | None = None) -> None:
        super().__init__(name="task-rss", daemon=True)
        self.interval = interval
        self.roots = roots
        self.db_marker = db_marker
        self.peaks_kib: dict[str, int] = {}  # task instance id -> highest VmHWM seen
        self.pids: dict[str, set[int]] = {}
        # (pid, start time) -> [group, ticks at first sight (0 if born after the first sample), last ticks]
        self._cpu: dict[tuple[int, int], list[Any]] = {}
        self._sampled = False
        self._stop_event = threading.Event()

    @staticmethod
    def scan() -> dict[int, tuple[str, int]]:
        """{pid: (task instance id, VmHWM KiB)} of the task processes alive now."""
        return {pid: (ti_id, _hwm(pid)) for pid, (title, _) in _processes().items()
                if (ti_id := _task_id(title)) is not None}

    def _group(self, title: str, pgrp: int, roots: set[int]) -> str | None:
        ti_id = _task_id(title)
        if ti_id is not None:
            return "task:" + ti_id
        if pgrp in roots:
            return "component"
        if self.db_marker and title.startswith("postgres:") and self.db_marker in title + " ":
            return "postgres"
        return None

    def sample(self) -> None:
        roots = self.roots() if self.roots is not None else set()
        for pid, (title, stat) in _processes().items():
            ti_id = _task_id(title)
            if ti_id is not None:
                self.peaks_kib[ti_id] = max(self.peaks_kib.get(ti_id, 0), _hwm(pid))
                self.pids.setdefault(ti_id, set()).add(pid)
            group = self._group(title, stat[0], roots)
            if group is None:
                continue
            key = (pid, stat[2])
            entry = self._cpu.get(key)
            if entry is None:
                self._cpu[key] = [group, stat[1] if not self._sampled else 0, stat[1]]
            else:
                entry[2] = max(entry[2], stat[1])
        self._sampled = True

    def cpu_seconds(self) -> dict[str, float]:
        """{group: CPU seconds used since the first sample}."""
        tick = os.sysconf("SC_CLK_TCK")
        used: dict[str, float] = {}
        for group, first, last in self._cpu.values():
            used[group] = used.get(group, 0.0) + (last - first) / tick
        return used

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.sample()
            time.sleep(self.interval)

    def stop(self) -> None:
        self._stop_event.set()
        if self.is_alive():
            self.join(timeout=5)


def _task_id(title: str) -> str | None:
    """The task instance id in a task process's title; None for other processes (LocalExecutor's
    own workers are titled ``airflow worker -- LocalExecutor: ...``)."""
    if not title.startswith(TASK_TITLE):
        return None
    words = title[len(TASK_TITLE):].split()
    return words[0] if words and not words[0].endswith(":") else None


def _processes() -> dict[int, tuple[str, tuple[int, int, int]]]:
    """{pid: (command line, (process group, utime + stime ticks, start time))} of every process."""
    found: dict[int, tuple[str, tuple[int, int, int]]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/cmdline", "rb") as fh:
                title = fh.read().replace(b"\0", b" ").decode(errors="replace").strip()
            with open(f"/proc/{entry.name}/stat", encoding="ascii", errors="replace") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()  # the name in (...) may hold spaces
        except (OSError, IndexError):
            continue  # gone between listing and reading
        found[int(entry.name)] = (title, (int(fields[2]), int(fields[11]) + int(fields[12]), int(fields[19])))
    return found


def _hwm(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            return next((int(line.split()[1]) for line in fh if line.startswith("VmHWM:")), 0)
    except (OSError, ValueError):
        return 0


def _airflow_env(base: dict[str, str], *, home: Path, metadata_db: str, api_port: int, executor: str,
                 parallelism: int) -> dict[str, str]:
    env = dict(base)
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_db,
        "AIRFLOW__CORE__FERNET_KEY": "",
        "AIRFLOW__CORE__EXECUTOR": local_cluster.LOCAL_EXECUTOR,
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{api_port}",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        "AIRFLOW__CORE__PARALLELISM": str(parallelism),
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "60",
        # A shared, loaded 2-core machine: the api-server can take longer than the default 5 s to answer
        # a task's execution-API call (a timeout there fails the try, not the step).
        "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "30",
    })
    if executor == "local":
        env.pop("AIRFLOW__CELERY__BROKER_URL", None)
    return env


def _template_database(env: dict[str, str], log: Callable[[str], None]) -> tuple[Any, str]:
    """(server, name) of this process's migrated Airflow metadata database, used as a template."""
    import atexit

    from tools import pg

    if "name" in _TEMPLATE:
        return _TEMPLATE["server"], _TEMPLATE["name"]
    server, _ = pg.ensure_server()
    name = f"of_bench_aftpl_{os.getpid()}"
    pg.create_database(server, name, drop_first=True)
    atexit.register(pg.drop_database, server, name)
    log("cluster: migrating the Airflow metadata database once (template for every configuration)")
    done = subprocess.run([AIRFLOW, "db", "migrate"], env={**env, "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN":
                                                            server.url(name, "postgresql+psycopg2")},
                          cwd=REPO, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        raise RuntimeError(f"airflow db migrate failed: {done.stderr[-2000:]}")
    _TEMPLATE.update(server=server, name=name)
    return server, name


@contextlib.contextmanager
def metadata_copy(env: dict[str, str], tag: str, log: Callable[[str], None]) -> Iterator[str]:
    from psycopg2 import sql

    from tools import pg

    server, template = _template_database(env, log)
    name = f"of_bench_af_{tag}_{os.getpid()}"
    pg.drop_database(server, name)
    conn = server.connect()
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name),
                                                                         sql.Identifier(template)))
    finally:
        conn.close()
    try:
        yield server.url(name, "postgresql+psycopg2")
    finally:
        pg.drop_database(server, name)


def _rows(url: str, query: str, params: tuple = ()) -> list[dict[str, Any]]:
    import psycopg2
    import psycopg2.extras

    conn = psycopg2.connect(url.replace("postgresql+psycopg2://", "postgresql://", 1))
    try:
        with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
            cur.execute(query, params)
            return [dict(r) for r in cur.fetchall()]
    finally:
        conn.close()


def _wait(what: str, seconds: float, check: Callable[[], Any], cluster: local_cluster.Cluster,
          tick: Callable[[], None] | None = None) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        dead = [p.name for p in cluster.processes if not p.alive() and p.name not in cluster.killed]
        if dead:
            raise RuntimeError(f"{dead} exited while waiting for {what}; see {cluster.logs}")
        if tick is not None:
            tick()
        time.sleep(0.5)
    raise RuntimeError(f"timed out after {seconds:.0f} s waiting for {what}; see {cluster.logs}")


def scheduled_run(base_env: dict[str, str], *, executor: str, workers: int, tag: str,
                  before_unpause: Callable[[], None], log: Callable[[str], None],
                  timeout: float = 1800, watch: Callable[[], bool] | None = None,
                  parallelism: int = 16, worker_concurrency: int | None = None) -> dict[str, Any]:
    """Start the topology, let the scheduler run orderflow_core once, stop everything; what happened.

    ``before_unpause`` runs once the DAG is parsed and the components are up (e.g. the sandbox gets
    its orders). ``watch()`` is called while the run goes; when it returns True the run is abandoned
    (the limits window is over) and the cluster is stopped.
    """
    import tempfile

    with tempfile.TemporaryDirectory(prefix=f"orderflow-bench-cluster-{tag}-") as tmp:
        home = Path(tmp)
        with metadata_copy(base_env, tag, log) as meta:
            api_port = local_cluster.free_port()
            env = _airflow_env(base_env, home=home, metadata_db=meta, api_port=api_port, executor=executor,
                               parallelism=parallelism)
            cluster = local_cluster.Cluster(env=env, logs=home / "logs", airflow=AIRFLOW)
            rss = TaskRss(roots=lambda: {p.pid for p in cluster.processes}, db_marker=f"_{os.getpid()} ")
            result: dict[str, Any] = {"executor": executor, "workers": workers, "logs": str(home / "logs")}
            try:
                t_start = time.time()
                if executor == "celery":
                    cluster.use_celery(meta)
                cluster.start_components(api_port)
                for i in range(workers):
                    cluster.start_worker(f"worker{i + 1}", concurrency=worker_concurrency)
                cluster.wait_for_http(f"http://127.0.0.1:{api_port}/api/v2/monitor/health", 300, "the api-server")
                _wait("the dag-processor to store orderflow_core", 300, lambda: _rows(
                    meta, "SELECT 1 FROM dag WHERE dag_id = 'orderflow_core'"), cluster)
                result["startup_s"] = time.time() - t_start
                before_unpause()
                rss.start()
                unpaused = subprocess.run([AIRFLOW, "dags", "unpause", "orderflow_core"], env=env, cwd=REPO,
                                          capture_output=True, text=True, timeout=300)
                if unpaused.returncode != 0:
                    raise RuntimeError(f"unpause failed: {unpaused.stderr[-1500:]}")
                result["unpaused_at"] = time.time()
                run = _wait("a scheduled run", 300, lambda: _rows(
                    meta, "SELECT run_id FROM dag_run WHERE dag_id = 'orderflow_core' ORDER BY id LIMIT 1"),
                    cluster)[0]
                abandoned = {"yes": False}

                def finished() -> str | None:
                    if watch is not None and watch():
                        abandoned["yes"] = True
                        return "abandoned"
                    state = _rows(meta, "SELECT state FROM dag_run WHERE run_id = %s", (run["run_id"],))[0]["state"]
                    return state if state in ("success", "failed") else None

                result["state"] = _wait("the run to finish", timeout, finished, cluster)
                rss.stop()
                result["cpu_s"] = rss.cpu_seconds()
                result["cpu_window_s"] = time.time() - result["unpaused_at"]
                result["abandoned"] = abandoned["yes"]
                dag_run = _rows(meta, "SELECT run_id, run_type, queued_at, start_date, end_date FROM dag_run "
                                      "WHERE run_id = %s", (run["run_id"],))[0]
                result["dag_run"] = {k: (v.timestamp() if hasattr(v, "timestamp") else v) for k, v in dag_run.items()}
                tis = _rows(meta, "SELECT id::text AS id, task_id, map_index, try_number, state, hostname, pid, "
                                  "start_date, end_date, queued_dttm FROM task_instance WHERE run_id = %s "
                                  "ORDER BY start_date NULLS LAST", (run["run_id"],))
                earlier = _rows(meta, "SELECT task_instance_id::text AS id, task_id, map_index, try_number, state, "
                                      "hostname, start_date, end_date FROM task_instance_history "
                                      "WHERE run_id = %s", (run["run_id"],))
                result["task_instances"] = [_ti_row(t, rss) for t in tis]
                result["earlier_tries"] = [_ti_row(t, rss) for t in earlier]
            finally:
                rss.stop()
                cluster.stop()
            return result


def _ti_row(t: dict[str, Any], rss: TaskRss) -> dict[str, Any]:
    start = t["start_date"].timestamp() if t.get("start_date") else None
    end = t["end_date"].timestamp() if t.get("end_date") else None
    peak = rss.peaks_kib.get(t["id"])
    return {"id": t["id"], "task_id": t["task_id"], "map_index": t["map_index"], "try_number": t["try_number"],
            "state": t["state"], "hostname": t.get("hostname"), "start": start, "end": end,
            "duration_s": (end - start) if start and end else None,
            "queued": t["queued_dttm"].timestamp() if t.get("queued_dttm") else None,
            "task_process_peak_rss_mib": round(peak / 1024, 1) if peak else None}
