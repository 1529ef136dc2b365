"""Run both sandbox servers in-process, on ephemeral ports (tests, benchmarks, demos).

::

    from sandbox.testing import running_sandbox

    with running_sandbox(orders=5) as sb:
        requests.get(sb.mirakl_url + "/api/orders", headers={"Authorization": sb.mirakl_api_key})
        sb.set_faults("mirakl", "OR21", drop_rate=1, count=1)   # the next OR21 commits, then drops
        sb.advance(10)                                          # the debit happens now
        os.environ.update({f"AIRFLOW_CONN_{k.upper()}": v for k, v in sb.airflow_conn_uris().items()})

Defaults suit tests: a short debit delay, no payment refusals or cancellations, documented rate
limits off (pass ``rate_limits=True`` to turn them on).
"""

from __future__ import annotations

import importlib
import inspect
import json
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

from sandbox.core import CallRecord, FaultConfig, FaultSpec, SandboxServer, StatePersister
from sandbox.mirakl.service import MiraklService

DEFAULT_MIRAKL_API_KEY = "sandbox-mirakl-key"
DEFAULT_SHOP_ID = 2001
# The same demo credentials as CanadaPostService's own defaults: one documented set everywhere.
DEFAULT_CANADAPOST_USER = "orderflow-sandbox"
DEFAULT_CANADAPOST_PASSWORD = "sandbox-password"
DEFAULT_CANADAPOST_CUSTOMER_NUMBER = "0001234567"
DEFAULT_CANADAPOST_CONTRACT_ID = "0042708517"
DEFAULT_ORIGIN_POSTAL_CODE = "K1A0B1"
DEFAULT_SERVICE_CODE = "DOM.EP"

_MIRAKL_OPTIONS = set(inspect.signature(MiraklService.__init__).parameters) - {"self", "api_key", "seed"}


def canadapost_service_class() -> type | None:
    """``sandbox.canadapost.CanadaPostService`` when that half is installed, else None."""
    try:
        module = importlib.import_module("sandbox.canadapost")
    except ImportError:
        return None
    return getattr(module, "CanadaPostService", None)


@dataclass
class SandboxHandle:
    mirakl: MiraklService
    mirakl_server: SandboxServer
    mirakl_api_key: str
    shop_id: int
    canadapost: Any | None = None
    canadapost_server: SandboxServer | None = None
    canadapost_user: str = DEFAULT_CANADAPOST_USER
    canadapost_password: str = DEFAULT_CANADAPOST_PASSWORD
    canadapost_customer_number: str = DEFAULT_CANADAPOST_CUSTOMER_NUMBER
    canadapost_extras: dict[str, Any] = field(default_factory=dict)

    @property
    def mirakl_url(self) -> str:
        return self.mirakl_server.url

    @property
    def canadapost_url(self) -> str:
        if self.canadapost_server is None:
            raise RuntimeError("the Canada Post sandbox (sandbox.canadapost.CanadaPostService) is not available")
        return self.canadapost_server.url

    def server(self, service: str) -> SandboxServer:
        if service == "mirakl":
            return self.mirakl_server
        if service == "canadapost" and self.canadapost_server is not None:
            return self.canadapost_server
        raise KeyError(f"no sandbox service {service!r}")

    # -- inspection ----------------------------------------------------------------------------

    def calls(self, service: str, endpoint: str | None = None, since: int = 0) -> list[CallRecord]:
        calls = self.server(service).calls_since(since)
        return [c for c in calls if endpoint is None or c.endpoint == endpoint]

    def counts(self, service: str) -> dict[str, dict[str, int]]:
        return self.server(service).counts()

    def state(self, service: str) -> dict:
        return self.server(service).service.inspect()

    def reset_calls(self) -> None:
        for server in self._servers():
            server.reset_calls()

    # -- faults and limits ---------------------------------------------------------------------

    def set_faults(self, service: str, endpoint: str, **spec: Any) -> None:
        """E.g. ``set_faults("mirakl", "OR21", drop_rate=1, count=1)``; see :class:`FaultSpec`."""
        self.server(service).faults.set(endpoint, FaultSpec.from_dict(spec))

    def clear_faults(self, service: str | None = None) -> None:
        for server in self._servers():
            if service is None or server.service.name == service:
                server.faults.clear()

    def set_limits(self, service: str, enabled: bool | None = None, **limits: float | None) -> None:
        self.server(service).limiter.configure(enabled, limits)

    # -- generation and time ---------------------------------------------------------------------

    def generate_orders(self, n: int, lines: list[tuple[str, int]] | None = None) -> list[str]:
        return self.mirakl.generate_orders(n, lines=lines)

    def generate_messages(
        self, n: int, order_id: str | None = None, kind: str | None = None, new_thread: bool | None = None
    ) -> list[tuple[str, str]]:
        """``n`` customer messages: ``[(thread_id, message_id)]`` (random orders unless ``order_id``)."""
        return self.mirakl.generate_messages(n, order_id=order_id, kind=kind, new_thread=new_thread)

    def advance(self, seconds: float) -> None:
        """Move both services' clocks forward (the pending debit, tracking events... happen now)."""
        self.mirakl.advance(seconds)
        if self.canadapost is not None and hasattr(self.canadapost, "advance"):
            self.canadapost.advance(seconds)

    # -- Airflow ---------------------------------------------------------------------------------

    def airflow_conn_uris(self) -> dict[str, str]:
        """``{conn_id: value}`` for ``AIRFLOW_CONN_<ID>`` env vars (Airflow 3 accepts the JSON form)."""
        conns = {
            "mirakl_default": json.dumps({
                "conn_type": "mirakl",
                "host": self.mirakl_url,
                "password": self.mirakl_api_key,
                "extra": {"shop_id": self.shop_id},
            }),
        }
        if self.canadapost_server is not None:
            conns["canadapost_default"] = json.dumps({
                "conn_type": "canadapost",
                "host": self.canadapost_url,
                "login": self.canadapost_user,
                "password": self.canadapost_password,
                "extra": {"customer_number": self.canadapost_customer_number, **self.canadapost_extras},
            })
        return conns

    def _servers(self) -> list[SandboxServer]:
        return [s for s in (self.mirakl_server, self.canadapost_server) if s is not None]

    def describe(self) -> dict[str, Any]:
        return {
            "mirakl_url": self.mirakl_url,
            "canadapost_url": self.canadapost_server.url if self.canadapost_server else None,
            "mirakl_api_key": self.mirakl_api_key,
            "shop_id": self.shop_id,
            "canadapost_user": self.canadapost_user,
            "canadapost_customer_number": self.canadapost_customer_number,
            "faults": {s.service.name: s.faults.as_dict() for s in self._servers()},
            "limits": {s.service.name: asdict_limits(s) for s in self._servers()},
        }


def asdict_limits(server: SandboxServer) -> dict[str, Any]:
    return server.limiter.as_dict()


@contextmanager
def running_sandbox(
    *,
    seed: int = 1,
    orders: int = 0,
    debit_delay: float = 0.2,
    mirakl_api_key: str = DEFAULT_MIRAKL_API_KEY,
    shop_id: int = DEFAULT_SHOP_ID,
    canadapost_user: str = DEFAULT_CANADAPOST_USER,
    canadapost_password: str = DEFAULT_CANADAPOST_PASSWORD,
    canadapost_customer_number: str = DEFAULT_CANADAPOST_CUSTOMER_NUMBER,
    host: str = "127.0.0.1",
    mirakl_port: int = 0,
    canadapost_port: int = 0,
    rate_limits: bool = False,
    mirakl_faults: dict[str, dict[str, Any]] | None = None,
    canadapost_faults: dict[str, dict[str, Any]] | None = None,
    state_file: str | None = None,
    with_canadapost: bool = True,
    **options: Any,
) -> Iterator[SandboxHandle]:
    """Start both servers, yield a :class:`SandboxHandle`, stop them (and save state) on exit.

    ``options`` go to :class:`~sandbox.mirakl.service.MiraklService` when it knows them (``payment_refused_rate``,
    ``cancel_rate``, ``acceptance_timeout``, ``partial_acceptance``, ``order_rate``, ``message_rate``,
    ``update_date_safety``, ``leadtime_to_ship``) and to ``CanadaPostService`` otherwise.
    """
    mirakl_options = {k: v for k, v in options.items() if k in _MIRAKL_OPTIONS}
    canadapost_options = {k: v for k, v in options.items() if k not in _MIRAKL_OPTIONS}
    mirakl_options.setdefault("payment_refused_rate", 0.0)
    mirakl_options.setdefault("cancel_rate", 0.0)
    mirakl = MiraklService(mirakl_api_key, seed=seed, shop_id=shop_id, debit_delay=debit_delay, **mirakl_options)

    canadapost = None
    cp_class = canadapost_service_class() if with_canadapost else None
    if cp_class is not None:
        canadapost = cp_class(
            user=canadapost_user,
            password=canadapost_password,
            customer_number=canadapost_customer_number,
            seed=seed,
            **canadapost_options,
        )
    elif canadapost_options:
        raise TypeError(f"unknown sandbox option(s): {', '.join(sorted(canadapost_options))}")

    services: list[Any] = [mirakl] + ([canadapost] if canadapost is not None else [])
    persister = StatePersister(state_file, services) if state_file else None
    restored = persister.load() if persister else False
    if orders and not restored:
        mirakl.seed_orders(orders)

    on_mutation = persister.mark_dirty if persister else None
    with ExitStack() as stack:
        mirakl_server = SandboxServer(
            mirakl, host, mirakl_port, faults=_faults(mirakl_faults, seed),
            limits_enabled=rate_limits, on_mutation=on_mutation,
        )
        mirakl_server.start()
        stack.callback(mirakl_server.stop)
        cp_server = None
        if canadapost is not None:
            cp_server = SandboxServer(
                canadapost, host, canadapost_port, faults=_faults(canadapost_faults, seed),
                limits_enabled=rate_limits, on_mutation=on_mutation,
            )
            cp_server.start()
            stack.callback(cp_server.stop)
        if persister is not None:
            persister.start()
            stack.callback(persister.close)  # runs first: servers still up, final state written
        yield SandboxHandle(
            mirakl=mirakl,
            mirakl_server=mirakl_server,
            mirakl_api_key=mirakl_api_key,
            shop_id=shop_id,
            canadapost=canadapost,
            canadapost_server=cp_server,
            canadapost_user=canadapost_user,
            canadapost_password=canadapost_password,
            canadapost_customer_number=canadapost_customer_number,
            canadapost_extras=canadapost_conn_extras(canadapost),
        )


def canadapost_conn_extras(canadapost: Any | None) -> dict[str, Any]:
    """Extras of the ``canadapost_default`` connection, as the Canada Post hook reads them.

    The Canada Post service may publish its own (``conn_extras()``); otherwise these defaults.
    """
    if canadapost is not None and hasattr(canadapost, "conn_extras"):
        return dict(canadapost.conn_extras())
    from sandbox.canadapost.service import DEMO_SENDER

    return {
        "api": "portal",
        **DEMO_SENDER,
        "refund_email": "shipping@orderflow-demo.invalid",
        "mobo": DEFAULT_CANADAPOST_CUSTOMER_NUMBER,
        "contract_id": DEFAULT_CANADAPOST_CONTRACT_ID,
        "origin_postal_code": DEFAULT_ORIGIN_POSTAL_CODE,
        "service_code": DEFAULT_SERVICE_CODE,
        "output_format": "4x6",
    }


def _faults(specs: dict[str, dict[str, Any]] | None, seed: int) -> FaultConfig:
    return FaultConfig({name: FaultSpec.from_dict(spec) for name, spec in (specs or {}).items()}, seed=seed)


__all__ = ["SandboxHandle", "canadapost_service_class", "running_sandbox"]
