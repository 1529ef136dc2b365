"""Airflow's components as processes on this machine: LocalExecutor, or CeleryExecutor on a private Redis.

``make run`` (tools/run.py) and the Celery end-to-end test (tests/cluster/) start the same topology
through here: a private ``redis-server`` on a free port (the system binary, installed from Debian
when missing), the scheduler, the dag-processor, the api-server and, with Celery, N
``airflow celery worker`` processes. Each worker gets its own name (``ORDERFLOW_WORKER_NAME``, which
``tools/worker_hostname.py`` puts into the hostname Airflow records on every task instance it runs)
and its own log-server port, so two workers on one machine behave like two hosts.

Every process is started in its own session and stopped by its process group id: nothing else on
the machine is touched, and a SIGKILLed worker takes its task processes with it, as a dead host would.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

CELERY_EXECUTOR = "CeleryExecutor"
LOCAL_EXECUTOR = "LocalExecutor"
#: The Celery settings compose and this machine share (tests/test_compose.py compares them).
CELERY_WORKER_CONCURRENCY = 8


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def redis_server_binary() -> str:
    """The system redis-server, installed from Debian when missing (as the README's commands promise)."""
    found = shutil.which("redis-server")
    if found:
        return found
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    subprocess.run([*sudo, "apt-get", "update", "-qq"], check=True, capture_output=True)
    subprocess.run([*sudo, "apt-get", "install", "-y", "-qq", "redis-server"], check=True, capture_output=True,
                   env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    found = shutil.which("redis-server")
    if not found:
        raise RuntimeError("redis-server is not installed and could not be installed from Debian")
    return found


def celery_env(redis_port: int, airflow_db_url: str) -> dict[str, str]:
    """What turns an Airflow environment into a CeleryExecutor one on this machine's private Redis.

    ``airflow_db_url`` is the metadata DB's SQLAlchemy URL; Celery's result backend lives there too,
    as in compose."""
    backend = airflow_db_url.replace("postgresql+psycopg2://", "postgresql://", 1)
    return {
        "AIRFLOW__CORE__EXECUTOR": CELERY_EXECUTOR,
        "AIRFLOW__CELERY__BROKER_URL": f"redis://127.0.0.1:{redis_port}/0",
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{backend}",
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(CELERY_WORKER_CONCURRENCY),
        # Each task instance records the worker that ran it (tools/worker_hostname.py).
        "AIRFLOW__CORE__HOSTNAME_CALLABLE": "tools.worker_hostname.hostname",
    }


@dataclass
class Process:
    name: str
    popen: subprocess.Popen
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def signal_group(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, sig)


@dataclass
class Cluster:
    """The processes of one local deployment. ``env`` is the full Airflow environment (connections,
    databases, keys); ``start_*`` add to it what each component needs."""

    env: dict[str, str]
    logs: Path
    airflow: str
    processes: list[Process] = field(default_factory=list)
    redis_port: int | None = None
    killed: set[str] = field(default_factory=set)

    # -- starting -----------------------------------------------------------------------------
    def spawn(self, name: str, args: list[str], extra_env: dict[str, str] | None = None) -> Process:
        self.logs.mkdir(parents=True, exist_ok=True)
        log = self.logs / f"{name}.log"
        out = open(log, "ab")  # noqa: SIM115 - lives as long as the child
        popen = subprocess.Popen(args, env={**self.env, **(extra_env or {})}, cwd=REPO, stdout=out,
                                 stderr=subprocess.STDOUT, start_new_session=True)
        out.close()  # the child holds its own copy
        process = Process(name, popen, log)
        self.processes.append(process)
        return process

    def start_redis(self) -> int:
        port = free_port()
        self.spawn("redis", [redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1",
                             "--save", "", "--appendonly", "no", "--protected-mode", "yes"])
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        self.redis_port = port
                        return port
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"redis-server did not answer on port {port}; see {self.logs / 'redis.log'}")

    def use_celery(self, airflow_db_url: str) -> None:
        """Start a private Redis and switch this cluster's environment to the CeleryExecutor."""
        port = self.start_redis()
        self.env.update(celery_env(port, airflow_db_url))

    def start_components(self, api_port: int, *, triggerer: bool = False) -> None:
        components = ["api-server", "scheduler", "dag-processor"] + (["triggerer"] if triggerer else [])
        for component in components:
            args = [self.airflow, component]
            if component == "api-server":
                args += ["--port", str(api_port), "--host", "127.0.0.1"]
            self.spawn(component, args)

    def start_worker(self, name: str, *, concurrency: int | None = None) -> Process:
        """An ``airflow celery worker`` that Airflow's task instances will name ``name``."""
        args = [self.airflow, "celery", "worker", "--celery-hostname", f"{name}@%h",
                "--concurrency", str(concurrency or CELERY_WORKER_CONCURRENCY)]
        return self.spawn(name, args, {
            "ORDERFLOW_WORKER_NAME": name,
            # Two workers on one machine: each serves its task logs on its own port.
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        })

    # -- watching and stopping ----------------------------------------------------------------
    def process(self, name: str) -> Process:
        return next(p for p in self.processes if p.name == name)

    def wait_for_http(self, url: str, seconds: float, what: str) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - our own localhost URL
                    return
            except Exception:
                dead = [p.name for p in self.processes if not p.alive() and p.name not in self.killed]
                if dead:
                    raise RuntimeError(f"{', '.join(dead)} exited while waiting for {what}; see {self.logs}") from None
                time.sleep(0.5)
        raise RuntimeError(f"{what} did not come up at {url}; see {self.logs}")

    def kill(self, name: str) -> None:
        """SIGKILL a process and everything it started, as a host dying would."""
        process = self.process(name)
        process.signal_group(signal.SIGKILL)
        process.popen.wait(timeout=30)
        self.killed.add(name)

    def stop(self, timeout: float = 30) -> None:
        """Stop every process this cluster started (by process group), the latest first."""
        for process in reversed(self.processes):
            if process.alive():
                process.signal_group(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for process in self.processes:
            try:
                process.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.signal_group(signal.SIGKILL)
                process.popen.wait(timeout=10)
            # Children that outlived their leader (a pool process) are in the same group.
            process.signal_group(signal.SIGKILL)
