"""Against the limits: label buying with the sandbox enforcing Canada Post's and Mirakl's limits.

The sandbox (its own process) enforces Mirakl's documented frequency (OR11 new-order polling at most
once a minute), Canada Post's throttle groups at their documented defaults, and **20 creates per
minute** as a per-endpoint limit (``endpoint:create_shipment``): the 1,200 labels an hour bound. Label
downloads are not creates and do not count against it. The hooks' client-side limits are configured
to match: the Mirakl hook's defaults, Canada Post ``{"create": 20}`` (acquired before each create POST,
on top of the group A limiter). A real ``dag.test()`` runs in a child process with the product's
settings; once the first label is created the parent lets it buy labels for ``seconds`` (default 3
minutes) and then stops it.

Reported: labels per hour in that window and its share of the 1,200/hour bound, creates per minute
against the budget of 20, group A calls per minute, and every throttled answer (429 or Canada
Post's "Rejected by SLM Monitor") either sandbox gave anywhere in the run.
"""

from __future__ import annotations

import itertools
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from bench import env as benv
from bench.report import Section

CREATE_LIMIT_PER_MINUTE = 20
BOUND_PER_HOUR = CREATE_LIMIT_PER_MINUTE * 60  # 1,200
SHARE_TARGET_PCT = 95.0
# The sandbox's per-endpoint limits (sandbox/core.py RateLimiter: "endpoint:<name>" keys).
CREATE_ENDPOINT_LIMITS = {"endpoint:create_shipment": CREATE_LIMIT_PER_MINUTE,
                          "endpoint:create_nc_shipment": CREATE_LIMIT_PER_MINUTE}
# The hook configured to match: its per-operation create limit (rate_limits "create"), groups at defaults.
HOOK_LIMITS = {"create": CREATE_LIMIT_PER_MINUTE}
GROUP_A = {"create_shipment", "get_shipment", "get_shipment_details", "get_shipment_price", "get_artifact",
           "create_nc_shipment", "get_nc_shipment", "get_nc_shipment_details"}


def run(section: Section, *, seconds: float, orders: int, latency_ms: float,
        log: Callable[[str], None] = print) -> None:
    from bench.sandbox_proc import sandbox_process

    state: dict[str, Any] = {"first_create": None, "stopped_at": None}
    with (
        benv.order_database("limits") as order_db,
        tempfile.TemporaryDirectory(prefix="orderflow-bench-limits-") as home,
        sandbox_process(seed=9, debit_delay=0.05, rate_limits=True) as sb,
    ):
        # 20 creates a minute, counted by the sandbox per endpoint (contract and non-contract creates);
        # throttle groups A-E keep Canada Post's documented defaults (A: 646 calls a minute).
        sb.set_limits("canadapost", **CREATE_ENDPOINT_LIMITS)
        sb.set_faults("mirakl", "*", latency_ms=latency_ms)
        sb.set_faults("canadapost", "*", latency_ms=latency_ms)
        sb.generate_orders(orders)
        limits_seen = {"mirakl": sb.limits("mirakl"), "canadapost": sb.limits("canadapost")}
        conns = benv.connections(sb, mirakl_limits=None, canadapost_limits=HOOK_LIMITS)
        metadata_db, migrate = benv.metadata_database()
        environ = benv.airflow_env(home, order_db=order_db, metadata_db=metadata_db, conns=conns)

        def watch(proc: Any) -> None:
            if state["first_create"] is None:
                creates = sb.calls("canadapost", "create_shipment")  # fetched incrementally
                if creates:
                    state["first_create"] = creates[0].ts
                    log(f"limits: first label created; buying labels for {seconds:g} s")
            elif state["stopped_at"] is None and time.time() >= state["first_create"] + seconds + 1:
                state["stopped_at"] = time.time()
                proc.kill()  # the window is over; whatever this run still holds stays for a next run

        log(f"limits: {orders} orders, Canada Post creates at {CREATE_LIMIT_PER_MINUTE}/min, OR11 polls 1/min")
        try:
            result = benv.run_dag_test(environ, migrate=migrate, timeout=seconds + 600, log=log, watch=watch)
        except RuntimeError as exc:
            if state["stopped_at"] is None:
                raise
            result = {"stopped": True, "note": str(exc)[:200]}
        calls = benv.call_rows(sb, "mirakl") + benv.call_rows(sb, "canadapost")
        statuses = benv.final_statuses(order_db)
    report(section, calls, statuses, state, seconds=seconds, orders=orders, limits_seen=limits_seen, result=result)


def _is_first_page_by_date(query: str | None) -> bool:
    from urllib.parse import parse_qs

    params = parse_qs(query or "")
    return "order_ids" not in params and (params.get("offset") or ["0"])[0] in ("", "0")


def report(section: Section, calls: list[dict[str, Any]], statuses: dict[str, int], state: dict[str, Any], *,
           seconds: float, orders: int, limits_seen: dict[str, Any], result: dict[str, Any]) -> None:
    start = state["first_create"]
    if start is None:
        raise RuntimeError("no label was created: the shipping step never reached Canada Post")
    end = start + seconds
    cp = [c for c in calls if c["service"] == "canadapost"]
    in_window = [c for c in cp if start <= c["ts"] < end]
    creates = [c for c in in_window if c["endpoint"] == "create_shipment" and 200 <= c["status"] < 300]
    labels = [c for c in in_window if c["endpoint"] == "get_artifact" and 200 <= c["status"] < 300]
    group_a = [c for c in in_window if c["endpoint"] in GROUP_A]
    per_hour = len(labels) * 3600 / seconds
    creates_per_hour = len(creates) * 3600 / seconds
    throttled = [c for c in calls if c["status"] == 429 or c["outcome"] == "throttled"]
    by_service = Counter(f"{c['service']}:{c['endpoint']}" for c in throttled)
    section.add("label-buying window", round(seconds), "s", note="from the first create-shipment call")
    section.add("labels bought and downloaded in the window", len(labels), "labels",
                note=f"{len(creates)} create-shipment calls answered 2xx")
    section.add("labels per hour", round(per_hour), "labels/h")
    section.add("labels per hour, share of the 1,200/h bound", round(100 * per_hour / BOUND_PER_HOUR, 1), "%",
                f">= {SHARE_TARGET_PCT:g}")
    section.add("create-shipment calls per hour, share of 1,200/h", round(100 * creates_per_hour / BOUND_PER_HOUR, 1),
                "%")
    section.add("create-shipment calls per minute (budget 20)", round(len(creates) * 60 / seconds, 1), "calls/min")
    section.add("group A calls per minute (budget 646, default)", round(len(group_a) * 60 / seconds, 1),
                "calls/min",
                note=", ".join(f"{k} {v}" for k, v in sorted(Counter(c['endpoint'] for c in group_a).items())))
    section.add("throttled answers (429 / SLM) in the whole run", len(throttled), "", "<= 0",
                note=", ".join(f"{k} {v}" for k, v in sorted(by_service.items())))
    sweeps = sorted(c["ts"] for c in calls if c["service"] == "mirakl" and c["endpoint"] == "OR11"
                    and _is_first_page_by_date(c["query"]))
    gaps = [b - a for a, b in itertools.pairwise(sweeps)]
    section.add("OR11 new-order polls (by date, first pages)", len(sweeps), "calls",
                note="Mirakl: at most once a minute" + (f"; shortest gap {min(gaps):.0f} s" if gaps else ""))
    section.details.update({
        "orders": orders, "final_statuses": statuses, "sandbox_limits": limits_seen,
        "hook_limits": {"mirakl": "hook defaults (OR11_poll 1/min, OR11_lookup 30/min)",
                        "canadapost": {"groups": "hook defaults (A 646, B 468, C 730, E 20)", **HOOK_LIMITS}},
        "calls_by_endpoint": dict(Counter(f"{c['service']}:{c['endpoint']}" for c in calls)),
        "window_start": start, "window_end": end, "child": {k: v for k, v in result.items()
                                                            if k in ("state", "wall_s", "stopped", "note")},
    })
