"""DAG parse time and plugin import time, each in a fresh interpreter (median of a few runs).

Airflow is imported first and not counted, as in the DAG processor and every Airflow process, which
have it loaded before they parse our file or load our plugin. The cold total (interpreter start,
Airflow and ours) is reported beside it for information.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.report import Section

REPO = Path(__file__).resolve().parent.parent
TARGET_S = 0.5

PARSE = """
import json, sys, time
import airflow
from airflow.dag_processing.dagbag import DagBag
t0 = time.perf_counter()
bag = DagBag(dag_folder=sys.argv[1])
elapsed = time.perf_counter() - t0
print(json.dumps({"seconds": elapsed, "dags": sorted(bag.dag_ids), "errors": {k: str(v)[:300] for k, v in
      bag.import_errors.items()}, "tasks": sum(len(d.tasks) for d in bag.dags.values())}))
"""

PLUGIN = """
import json, sys, time
import airflow
from airflow.plugins_manager import AirflowPlugin
t0 = time.perf_counter()
import orderflow.plugin  # what Airflow imports, from the entry point or from plugins/orderflow_plugin.py
elapsed = time.perf_counter() - t0
print(json.dumps({"seconds": elapsed, "plugin": orderflow.plugin.OrderflowPlugin.name}))
"""


def airflow_env(home: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "ORDERFLOW_"))}
    env.update({
        "AIRFLOW_HOME": home,
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        "PYTHONPATH": os.pathsep.join([str(REPO / "plugins"), str(REPO)]),
        "ORDERFLOW_SETTINGS_NO_VARIABLES": "1",
    })
    return env


def _time(script: str, arg: str, env: dict[str, str]) -> tuple[float, float, dict]:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", script, arg], env=env, capture_output=True, text=True,
                          timeout=180, cwd=str(REPO))
    total = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"child failed: {proc.stderr.strip()[-800:]}")
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    return data["seconds"], total, data


def run(section: Section, *, runs: int, log: Callable[[str], None] = print) -> None:
    with tempfile.TemporaryDirectory(prefix="orderflow-bench-home-") as home:
        env = airflow_env(home)
        for label, script, arg in (
            ("DAG parse (dags/orderflow_core.py)", PARSE, str(REPO / "dags" / "orderflow_core.py")),
            ("plugin import (plugins/orderflow_plugin.py)", PLUGIN, ""),
        ):
            own, cold, last = [], [], {}
            if runs > 1:
                _time(script, arg, env)  # warm the OS file cache and __pycache__ once
            for _ in range(runs):
                seconds, total, last = _time(script, arg, env)
                own.append(seconds)
                cold.append(total)
            log(f"startup: {label}: median {statistics.median(own):.3f} s")
            note = f"min {min(own):.3f} s, max {max(own):.3f} s over {runs} fresh interpreters"
            if last.get("errors"):
                note += f"; IMPORT ERRORS {last['errors']}"
            section.add(label, round(statistics.median(own), 3), "s", f"< {TARGET_S}", note=note)
            section.add("  cold process total (interpreter + Airflow + ours)", round(statistics.median(cold), 2),
                        "s", note="information: includes Airflow's own import")
            section.details[label] = {"runs_s": [round(x, 4) for x in own], "cold_total_s": [round(x, 3) for x in cold],
                                      **{k: v for k, v in last.items() if k != "seconds"}}
