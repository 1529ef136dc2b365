"""``python -m sandbox serve``: run the Best Buy (Mirakl) and Canada Post sandboxes.

Run ``python -m sandbox serve --help`` for every option. Stops cleanly on Ctrl-C / SIGTERM (state
saved when ``--state`` is given).

``python -m sandbox seed-catalog``: load the demo catalog (:mod:`sandbox.catalog`) into orderflow's
products. The sandbox imports nothing from orderflow: it writes the catalog file and runs orderflow's
own ``python -m orderflow.setup seed-catalog --file`` on it (``make run`` calls this).
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

from sandbox.catalog import write_catalog
from sandbox.core import FaultConfig, FaultSpec, SandboxServer, StatePersister
from sandbox.mirakl.service import DEFAULT_LIMITS, MiraklService
from sandbox.testing import (
    DEFAULT_CANADAPOST_CUSTOMER_NUMBER,
    DEFAULT_CANADAPOST_PASSWORD,
    DEFAULT_CANADAPOST_USER,
    DEFAULT_MIRAKL_API_KEY,
    DEFAULT_SHOP_ID,
    canadapost_conn_extras,
    canadapost_service_class,
)

FAULT_HELP = """\
fault specs (--mirakl-fault / --canadapost-fault, repeatable): ENDPOINT:key=value[,key=value...]
  ENDPOINT  an endpoint name or * for all. Mirakl: OR11 OR21 OR23 OR24 OR29 OR43 SH21 M10 M11 M12.
            Canada Post: see the Canada Post service's endpoint names (GET /__admin/calls shows them).
  latency_ms=N            add N ms before answering
  error_rate=P            answer 5xx with probability P (error_statuses=500|502|503, default all three;
                          error_after_commit=true runs the action first)
  throttle_rate=P         answer the API's throttling response (Mirakl 429 + Retry-After, Canada Post
                          "Rejected by SLM Monitor"); retry_after=S (default 1)
  hang_rate=P             never answer (until hang_seconds=S, default 60; hang_after_commit=true runs
                          the action first)
  malformed_rate=P        truncate/corrupt the body
  drop_rate=P             commit-then-drop: perform the action, then close the connection unanswered
  visibility_delay_rate=P what the request creates stays out of every search (look-up by request id,
                          PIN, group, time window) for visibility_delay_seconds=S (default 5, sandbox
                          clock) while reads by id find it; combines with the kinds above. Canada Post
                          create_shipment / create_nc_shipment only (others create nothing searchable)
  count=N                 apply to the next N requests only, every kind given with certainty
  e.g. --mirakl-fault 'OR21:drop_rate=1,count=1' --mirakl-fault '*:latency_ms=200'

rate limits: per group, calls per rolling 60 s window; a call over the limit gets the throttling
response. Mirakl documented default: OR11=1 (polls by date; the groups OR11_ids, for order_ids
look-ups, and OR11_page, for later pages of a poll, are unlimited unless set). Every endpoint is
also its own group (e.g. OR21, M11) for --mirakl-limit.

admin API on each server (no auth): GET /__admin/calls[?since=N], GET /__admin/counts,
GET /__admin/state, POST /__admin/reset, GET|POST|DELETE /__admin/faults, GET|POST /__admin/limits
({"enabled": bool, "limits": {"OR11": 1}}). Mirakl also: POST /__admin/orders {"count": n,
"lines"?: [{"sku", "quantity"}]}, POST /__admin/messages {"count": n, "order_id"?, "kind"?},
POST /__admin/advance {"seconds": s}, GET|POST /__admin/settings, POST /__admin/cancel {"order_id"},
POST /__admin/clear (forget every order, thread and return). Canada Post also: POST /__admin/clear.
"""


def _kv(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def _fault(text: str) -> tuple[str, FaultSpec]:
    try:
        return FaultSpec.parse_cli(text)
    except (ValueError, TypeError) as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _on_off(text: str) -> bool:
    if text.lower() in ("on", "true", "1", "yes"):
        return True
    if text.lower() in ("off", "false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError("expected on or off")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description="orderflow's local API sandboxes.")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser(
        "serve",
        help="run the Mirakl (Best Buy) and Canada Post sandboxes",
        description="Run local servers that behave like Best Buy Canada's Mirakl seller API and Canada "
        "Post's web services, faults included.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        epilog=FAULT_HELP,
    )
    serve.formatter_class = _Formatter
    net = serve.add_argument_group("network")
    net.add_argument("--host", default="127.0.0.1", help="interface to bind")
    net.add_argument("--mirakl-port", type=int, default=8900, help="Mirakl port (0 = any free port)")
    net.add_argument("--canadapost-port", type=int, default=8901, help="Canada Post port (0 = any free port)")

    creds = serve.add_argument_group("credentials (what the Airflow connections must carry)")
    creds.add_argument("--mirakl-api-key", default=DEFAULT_MIRAKL_API_KEY,
                       help="shop API key expected in the Authorization header (raw, no Bearer)")
    creds.add_argument("--shop-id", type=int, default=DEFAULT_SHOP_ID, help="the shop's id (shop_id parameter)")
    creds.add_argument("--canadapost-user", default=DEFAULT_CANADAPOST_USER, help="Canada Post API user (Basic)")
    creds.add_argument("--canadapost-password", default=DEFAULT_CANADAPOST_PASSWORD,
                       help="Canada Post API password (Basic)")
    creds.add_argument("--canadapost-customer-number", default=DEFAULT_CANADAPOST_CUSTOMER_NUMBER,
                       help="Canada Post customer number (mailed-by)")

    data = serve.add_argument_group("data")
    data.add_argument("--seed", type=int, default=1, help="seed of every generated order, message and id")
    data.add_argument("--orders", type=int, default=10, help="orders waiting for acceptance at start")
    data.add_argument("--messages", type=int, default=3, help="customer messages at start")
    data.add_argument("--order-rate", type=float, default=0.0, help="new orders per minute while running")
    data.add_argument("--message-rate", type=float, default=0.0, help="new customer messages per minute")
    data.add_argument("--return-rate", type=float, default=0.0,
                      help="chance a shipped order gets a return (after --return-delay seconds)")
    data.add_argument("--return-delay", type=float, default=3 * 86400.0, help="seconds after shipping")
    data.add_argument("--incident-rate", type=float, default=0.0,
                      help="chance a shipped order gets an incident (after --incident-delay seconds)")
    data.add_argument("--incident-delay", type=float, default=2 * 86400.0, help="seconds after shipping")
    data.add_argument("--state", metavar="FILE", default=None,
                      help="persist both services' state to this JSON file (restored at start)")

    mk = serve.add_argument_group("Mirakl behaviour")
    mk.add_argument("--debit-delay", type=float, default=5.0,
                    help="seconds from acceptance (OR21) to the debit (WAITING_DEBIT_PAYMENT -> SHIPPING)")
    mk.add_argument("--payment-refused-rate", type=float, default=0.05,
                    help="share of accepted orders whose payment is refused (-> CANCELED)")
    mk.add_argument("--cancel-rate", type=float, default=0.03,
                    help="share of accepted orders the customer cancels before the debit (-> CANCELED)")
    mk.add_argument("--acceptance-timeout", type=float, default=24 * 3600.0,
                    help="seconds before an unaccepted order is auto-refused (0 = never)")
    mk.add_argument("--partial-acceptance", action="store_true",
                    help="allow accepting some lines and refusing others (off: ORDER_PARTIAL_ACCEPTANCE_DISABLED)")
    mk.add_argument("--update-date-safety", type=float, default=5.0,
                    help="seconds OR11 subtracts from start_update_date (as Mirakl does: callers must dedupe)")

    faults = serve.add_argument_group("faults and rate limits (see below)")
    faults.add_argument("--mirakl-fault", type=_fault, action="append", default=[], metavar="SPEC",
                        help="a Mirakl fault spec, repeatable")
    faults.add_argument("--canadapost-fault", type=_fault, action="append", default=[], metavar="SPEC",
                        help="a Canada Post fault spec, repeatable")
    faults.add_argument("--rate-limits", type=_on_off, default=True, metavar="on|off",
                        help="enforce the documented rate limits")
    faults.add_argument("--mirakl-limit", type=_kv, action="append", default=[], metavar="GROUP=N",
                        help=f"per-minute limit for a Mirakl group (defaults {DEFAULT_LIMITS}); N=null removes")
    faults.add_argument("--canadapost-limit", type=_kv, action="append", default=[], metavar="GROUP=N",
                        help="per-minute limit for a Canada Post group")
    faults.add_argument("--canadapost-option", type=_kv, action="append", default=[], metavar="KEY=VALUE",
                        help="extra keyword argument for the Canada Post service (JSON values)")
    data.add_argument("--catalog-file", metavar="FILE", default=None,
                      help="write the demo catalog here at start (compose: airflow-init loads it)")
    serve.add_argument("--no-canadapost", action="store_true", help="run the Mirakl sandbox only")
    serve.add_argument("--verbose", action="store_true", help="log every request to stderr")

    seed = sub.add_parser(
        "seed-catalog",
        help="load the demo catalog into orderflow's products (python -m orderflow.setup seed-catalog --file)",
        description="Write the demo catalog to a file and load it with orderflow's own seed-catalog command "
        "(AIRFLOW_CONN_ORDERFLOW_DB says where).",
    )
    seed.add_argument("--file", metavar="FILE", default=None,
                      help="where to write the catalog (kept); default: a temporary file")
    return parser


class _Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    pass


def seed_catalog(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="sandbox-catalog-") as scratch:
        path = write_catalog(args.file or Path(scratch) / "catalog.json")
        # A fixed command of this interpreter on a file we just wrote: no untrusted input.
        command = [sys.executable, "-m", "orderflow.setup", "seed-catalog", "--file", str(path)]
        return subprocess.run(command, check=False).returncode  # noqa: S603


def serve(args: argparse.Namespace) -> int:
    if args.catalog_file:
        write_catalog(args.catalog_file)
    mirakl = MiraklService(
        args.mirakl_api_key,
        seed=args.seed,
        shop_id=args.shop_id,
        debit_delay=args.debit_delay,
        payment_refused_rate=args.payment_refused_rate,
        cancel_rate=args.cancel_rate,
        acceptance_timeout=args.acceptance_timeout,
        partial_acceptance=args.partial_acceptance,
        order_rate=args.order_rate,
        message_rate=args.message_rate,
        update_date_safety=args.update_date_safety,
        return_rate=args.return_rate,
        return_delay=args.return_delay,
        incident_rate=args.incident_rate,
        incident_delay=args.incident_delay,
    )
    services: list[Any] = [mirakl]
    canadapost = None
    if not args.no_canadapost:
        cp_class = canadapost_service_class()
        if cp_class is None:
            print("sandbox: sandbox.canadapost.CanadaPostService is not available; serving Mirakl only",
                  file=sys.stderr)
        else:
            canadapost = cp_class(
                user=args.canadapost_user,
                password=args.canadapost_password,
                customer_number=args.canadapost_customer_number,
                seed=args.seed,
                **dict(args.canadapost_option),
            )
            services.append(canadapost)

    persister = StatePersister(args.state, services) if args.state else None
    restored = persister.load() if persister else False
    if not restored:
        mirakl.seed_orders(args.orders)
        if args.messages:
            mirakl.generate_messages(args.messages)

    def limits(default: dict[str, float], pairs: list[tuple[str, Any]]) -> dict[str, float]:
        out = dict(default)
        for group, value in pairs:
            if value is None:
                out.pop(group, None)
            else:
                out[group] = float(value)
        return out

    on_mutation = persister.mark_dirty if persister else None
    servers = [
        SandboxServer(mirakl, args.host, args.mirakl_port, FaultConfig(dict(args.mirakl_fault), seed=args.seed),
                      limits(DEFAULT_LIMITS, args.mirakl_limit), limits_enabled=args.rate_limits,
                      on_mutation=on_mutation, quiet=not args.verbose)
    ]
    if canadapost is not None:
        servers.append(
            SandboxServer(canadapost, args.host, args.canadapost_port,
                          FaultConfig(dict(args.canadapost_fault), seed=args.seed),
                          limits(getattr(canadapost, "default_limits", None) or {}, args.canadapost_limit),
                          limits_enabled=args.rate_limits, on_mutation=on_mutation, quiet=not args.verbose)
        )
    for server in servers:
        server.start()
    if persister is not None:
        persister.start()

    ready = {server.service.name + "_url": server.url for server in servers}
    ready.update({"mirakl_api_key": args.mirakl_api_key, "shop_id": args.shop_id, "restored": restored})
    if canadapost is not None:
        ready.update({"canadapost_user": args.canadapost_user,
                      "canadapost_customer_number": args.canadapost_customer_number,
                      "canadapost_extras": canadapost_conn_extras(canadapost)})
    print("sandbox ready " + json.dumps(ready), flush=True)

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    finally:
        if persister is not None:
            persister.close()
        for server in servers:
            server.stop()
        print("sandbox stopped", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        return serve(args)
    if args.command == "seed-catalog":
        return seed_catalog(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
