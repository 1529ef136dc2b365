"""One fresh virtualenv per test session with the orderflow wheel built from this checkout and Airflow
from the lock (requirements.txt as constraints), installed by uv from its cache (a few seconds).

Nothing of the checkout is visible to it: no PYTHONPATH, no repo paths, its own AIRFLOW_HOME, dags and
(empty) plugins folders, and a working directory outside the repository. Commands run there with
:class:`InstalledOrderflow.run`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
FAB_AUTH_MANAGER = "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"


def _uv() -> str:
    found = shutil.which("uv") or str(Path(sys.executable).with_name("uv"))
    assert Path(found).exists(), "uv is needed to build and install the wheel (tools/bootstrap.sh installs it)"
    return found


def clean_environment(**extra: str) -> dict[str, str]:
    """This process's environment without anything that points into the checkout or at this test session's
    Airflow (PYTHONPATH, VIRTUAL_ENV, AIRFLOW_*, ORDERFLOW_*), plus ``extra``."""
    env = {
        k: v for k, v in os.environ.items()
        if not k.startswith(("AIRFLOW", "ORDERFLOW", "PYTHON", "VIRTUAL_ENV", "PYTEST"))
    }
    env.update(extra)
    return env


@dataclass(frozen=True)
class InstalledOrderflow:
    root: Path          # everything of this install lives under it
    venv: Path
    wheel: Path
    sdist: Path
    env: Mapping[str, str]

    @property
    def bin(self) -> Path:
        return self.venv / "bin"

    @property
    def dags_folder(self) -> Path:
        return self.root / "dags"

    def run(self, args: Sequence[str], *, env: Mapping[str, str] | None = None, check: bool = True,
            timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """``args[0]`` is a command of the virtualenv (``airflow``, ``orderflow``, ``python``)."""
        proc = subprocess.run(
            [str(self.bin / args[0]), *args[1:]], cwd=self.root, env={**self.env, **(env or {})},
            capture_output=True, text=True, timeout=timeout,
        )
        if check and proc.returncode != 0:
            pytest.fail(f"{' '.join(args)} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        return proc


@pytest.fixture(scope="session")
def installed_orderflow(tmp_path_factory: pytest.TempPathFactory) -> InstalledOrderflow:
    root = tmp_path_factory.mktemp("installed-orderflow")
    dist = root / "dist"
    uv = _uv()
    build_env = clean_environment()
    # sdist first, then the wheel from the sdist (uv build's default): proves both carry everything.
    subprocess.run([uv, "build", "--quiet", "--out-dir", str(dist), str(REPO_ROOT)], cwd=root, env=build_env,
                   check=True, timeout=300)
    (wheel,) = dist.glob("orderflow-*.whl")
    (sdist,) = dist.glob("orderflow-*.tar.gz")
    venv = root / "venv"
    subprocess.run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], cwd=root, env=build_env,
                   check=True, timeout=120)
    # The lock as constraints: Airflow 3.3 and everything else at the versions this repository tests.
    subprocess.run(
        [uv, "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"), str(wheel),
         "--constraint", str(REPO_ROOT / "requirements.txt")],
        cwd=root, env=build_env, check=True, timeout=600,
    )
    for folder in ("airflow-home", "dags", "plugins"):
        (root / folder).mkdir()
    env = clean_environment(
        AIRFLOW_HOME=str(root / "airflow-home"),
        AIRFLOW__CORE__DAGS_FOLDER=str(root / "dags"),
        AIRFLOW__CORE__PLUGINS_FOLDER=str(root / "plugins"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__AUTH_MANAGER=FAB_AUTH_MANAGER,
        AIRFLOW__LOGGING__LOGGING_LEVEL="WARNING",
    )
    return InstalledOrderflow(root=root, venv=venv, wheel=wheel, sdist=sdist, env=env)
