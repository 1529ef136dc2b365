"""``[core] hostname_callable`` for workers started by tools/cluster.py.

Several workers on one machine share its hostname; Airflow records the hostname of the worker that
ran each task instance, so each worker's is prefixed with its own name (``ORDERFLOW_WORKER_NAME``).
Elsewhere (no name set) it is Airflow's default, the machine's FQDN.
"""

from __future__ import annotations

import os
import socket


def hostname() -> str:
    fqdn = socket.getfqdn()
    name = os.environ.get("ORDERFLOW_WORKER_NAME")
    return f"{name}.{fqdn}" if name else fqdn
