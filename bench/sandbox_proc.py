"""The sandbox in its own process for the benchmarks (``python -m sandbox serve`` on ephemeral ports).

The in-process handle (``sandbox.testing.running_sandbox``) made the sandbox share the benchmark's
interpreter: its label PDFs (reportlab), XML validation and HTTP threads took CPU and the GIL from
whatever else ran there. Here it is a separate process, driven through its admin API
(``/__admin/faults``, ``/__admin/limits``, ``/__admin/orders``, ``/__admin/calls``), so a benchmark
measures orderflow and reports the sandbox's CPU apart (from ``/proc/<pid>/stat``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import requests

from sandbox.testing import DEFAULT_CANADAPOST_PASSWORD

REPO = Path(__file__).resolve().parent.parent
READY_PREFIX = "sandbox ready "


class SandboxProcess:
    """A running ``python -m sandbox serve``; the subset of ``SandboxHandle`` the benchmarks use."""

    def __init__(self, proc: subprocess.Popen, ready: dict[str, Any], password: str) -> None:
        self.proc = proc
        self.ready = ready
        self.mirakl_url: str = ready["mirakl_url"]
        self.canadapost_url: str = ready["canadapost_url"]
        self.mirakl_api_key: str = ready["mirakl_api_key"]
        self.shop_id: int = ready["shop_id"]
        self.canadapost_user: str = ready["canadapost_user"]
        self.canadapost_password = password
        self.canadapost_customer_number: str = ready["canadapost_customer_number"]
        self.canadapost_extras: dict[str, Any] = ready["canadapost_extras"]
        self._http = requests.Session()
        self._calls: dict[str, list[SimpleNamespace]] = {"mirakl": [], "canadapost": []}

    # -- admin API ---------------------------------------------------------------------------------
    def _url(self, service: str) -> str:
        return {"mirakl": self.mirakl_url, "canadapost": self.canadapost_url}[service]

    def _admin(self, service: str, method: str, action: str, payload: Any = None, **params: Any) -> Any:
        resp = self._http.request(method, f"{self._url(service)}/__admin/{action}", json=payload, params=params,
                                  timeout=60)
        if resp.status_code != 200:
            raise RuntimeError(f"sandbox admin {method} {action} on {service}: {resp.status_code} {resp.text[:300]}")
        return resp.json()

    def set_faults(self, service: str, endpoint: str, **spec: Any) -> None:
        self._admin(service, "POST", "faults", {"endpoint": endpoint, **spec})

    def set_limits(self, service: str, enabled: bool | None = None, **limits: float | None) -> dict[str, Any]:
        return self._admin(service, "POST", "limits", {"enabled": enabled, "limits": limits})

    def limits(self, service: str) -> dict[str, Any]:
        return self._admin(service, "GET", "limits")

    def generate_orders(self, n: int) -> list[str]:
        return self._admin("mirakl", "POST", "orders", {"count": n})["order_ids"]

    def calls(self, service: str, endpoint: str | None = None) -> list[SimpleNamespace]:
        """The call log so far (fetched incrementally), as objects with CallRecord's attributes."""
        known = self._calls[service]
        data = self._admin(service, "GET", "calls", since=len(known))
        known.extend(SimpleNamespace(**c) for c in data["calls"])
        return [c for c in known if endpoint is None or c.endpoint == endpoint]

    def cpu_seconds(self) -> float:
        """User + system CPU the sandbox process has used so far."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    # -- Airflow -----------------------------------------------------------------------------------
    def airflow_conn_uris(self) -> dict[str, str]:
        """The same ``{conn_id: JSON}`` as ``SandboxHandle.airflow_conn_uris``."""
        return {
            "mirakl_default": json.dumps({
                "conn_type": "mirakl", "host": self.mirakl_url, "password": self.mirakl_api_key,
                "extra": {"shop_id": self.shop_id},
            }),
            "canadapost_default": json.dumps({
                "conn_type": "canadapost", "host": self.canadapost_url, "login": self.canadapost_user,
                "password": self.canadapost_password,
                "extra": {"customer_number": self.canadapost_customer_number, **self.canadapost_extras},
            }),
        }


@contextmanager
def sandbox_process(*, seed: int, debit_delay: float, rate_limits: bool,
                    startup_timeout: float = 60.0) -> Iterator[SandboxProcess]:
    """Start ``python -m sandbox serve`` on ephemeral ports (no orders, no refusals or cancellations,
    as ``running_sandbox``'s defaults), yield its handle, stop it (SIGTERM) on exit."""
    cmd = [sys.executable, "-m", "sandbox", "serve", "--mirakl-port", "0", "--canadapost-port", "0",
           "--seed", str(seed), "--orders", "0", "--messages", "0", "--debit-delay", str(debit_delay),
           "--payment-refused-rate", "0", "--cancel-rate", "0",
           "--canadapost-password", DEFAULT_CANADAPOST_PASSWORD,
           "--rate-limits", "on" if rate_limits else "off"]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO / "plugins"), str(REPO)]))
    with tempfile.TemporaryFile(prefix="orderflow-bench-sandbox-") as errors:
        proc = subprocess.Popen(cmd, cwd=str(REPO), env=env, stdout=subprocess.PIPE, stderr=errors, text=True)
        try:
            ready = _wait_ready(proc, startup_timeout, errors)
            yield SandboxProcess(proc, ready, DEFAULT_CANADAPOST_PASSWORD)
        finally:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()


def _wait_ready(proc: subprocess.Popen, timeout: float, errors: Any) -> dict[str, Any]:
    import selectors

    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if not sel.select(timeout=max(0.0, deadline - time.monotonic())):
                break
            line = proc.stdout.readline()
            if not line:
                break  # the process ended
            if line.startswith(READY_PREFIX):
                return json.loads(line[len(READY_PREFIX):])
    errors.seek(0)
    tail = errors.read()[-2000:].decode("utf-8", "replace")
    proc.kill()
    raise RuntimeError(f"the sandbox process did not become ready: {tail}")
