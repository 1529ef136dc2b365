"""The type checker (issue 17): mypy, strict, with the project's configuration (pyproject.toml
``[tool.mypy]``: plugins/orderflow and the DAG files), exactly as ``make lint`` runs it. CI runs
``make test``, so this test is how CI checks types.

The cache (``.mypy_cache`` at the repository root, git-ignored) makes a warm run a few seconds; a
cold one (a fresh clone) reads Airflow's own sources and takes much longer, hence the timeout.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.timeout(900)
def test_mypy_strict_passes_on_the_package_and_the_dags() -> None:
    env = {k: v for k, v in os.environ.items() if k != "MYPYPATH"}  # the config's mypy_path decides
    proc = subprocess.run(
        [sys.executable, "-m", "mypy"], cwd=REPO, env=env, capture_output=True, text=True, timeout=880,
    )
    assert proc.returncode == 0, f"mypy (exit {proc.returncode}):\n{proc.stdout}{proc.stderr}"
