"""`make bench` works end to end: the suite in --quick mode (tiny sizes) writes a well-formed result
file with every section filled. No timing is asserted here: benchmarks report, they never fail on a time."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SECTIONS = {"db_scale", "startup", "baseline", "pipeline", "api_efficiency", "limits", "memory", "nc_lookups",
            "scaling", "scaling_limits"}
# A real scheduler start is minutes here: --quick leaves the scaling part out unless --only names it
# (tests/bench/test_scaling_pieces.py covers its cheap pieces).
NOT_QUICK = {"scaling", "scaling_limits"}


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess, Path]:
    out = tmp_path_factory.mktemp("bench")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO / "plugins"), str(REPO)]))
    cmd = [sys.executable, "-m", "bench", "--quick", "--results-dir", str(out), "--explain-dir", str(out / "explain")]
    with subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as p:
        stdout, stderr = p.communicate(timeout=840)
    proc = subprocess.CompletedProcess(cmd, p.returncode, stdout, stderr)
    proc.pid = p.pid  # type: ignore[attr-defined]  (the bench names its throwaway databases after it)
    return proc, out


# The quick suite runs every section once: minutes on a loaded 2-core machine, more than the
# suite's per-test 300 s (the module fixture's time counts toward the first test).
@pytest.mark.timeout(900)
@pytest.mark.slow
def test_quick_suite_writes_every_section(quick_run) -> None:
    proc, out = quick_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    files = list(out.glob("*.json"))
    assert [f.name for f in files] == [f"{datetime.now(UTC):%Y-%m-%d}-{socket.gethostname()}.json"]
    data = json.loads(files[0].read_text())
    assert set(data["meta"]) >= {"date", "host", "cpus", "args"}
    assert set(data["sections"]) == SECTIONS
    for name, section in data["sections"].items():
        if name in NOT_QUICK:
            assert section["status"] == "skipped", name
            continue
        assert section["status"] == "ok", (name, section["error"])
        assert section["metrics"], name
        for metric in section["metrics"]:
            assert set(metric) >= {"name", "value", "unit", "target", "met"}
    # The table on stdout names every section; a target line carries its mark.
    for title in ("Database at scale", "Pipeline throughput", "Against the limits", "Memory"):
        assert title in proc.stdout
    assert "✓" in proc.stdout or "✗" in proc.stdout


# The quick suite runs every section once: minutes on a loaded 2-core machine, more than the
# suite's per-test 300 s (the module fixture's time counts toward the first test).
@pytest.mark.timeout(900)
@pytest.mark.slow
def test_quick_suite_moves_every_order_and_explains_every_query(quick_run) -> None:
    _, out = quick_run
    data = json.loads(next(out.glob("*.json")).read_text())
    pipe = {m["name"]: m["value"] for m in data["sections"]["pipeline"]["metrics"]}
    assert pipe["orders shipped by one DAG run"] == pipe["orders"]
    assert pipe["task instances used"] >= 4
    queries = data["sections"]["db_scale"]["details"]["queries"]
    assert queries and all("error" not in q for q in queries), [q for q in queries if "error" in q]
    assert any(q["source"].endswith(".json") for q in queries)  # Grafana panels are among them
    for q in queries:
        assert (out / "explain" / Path(q["explain"]).name).read_text().count("Execution Time") == 1
    limits = {m["name"]: m["value"] for m in data["sections"]["limits"]["metrics"]}
    assert limits["labels bought and downloaded in the window"] >= 1


# The quick suite runs every section once: minutes on a loaded 2-core machine, more than the
# suite's per-test 300 s (the module fixture's time counts toward the first test).
@pytest.mark.timeout(900)
@pytest.mark.slow
def test_quick_suite_leaves_no_database_behind(quick_run, pg_server) -> None:
    proc, _ = quick_run
    assert proc.returncode == 0
    conn = pg_server.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT datname FROM pg_database WHERE datname LIKE 'of\\_bench\\_%%'")
            names = [r[0] for r in cur.fetchall()]
    finally:
        conn.close()
    assert [n for n in names if n.endswith(f"_{proc.pid}")] == []
