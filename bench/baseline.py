"""Baseline: a literal serial implementation of the seed's workflow, over the same sandbox and latency.

The seed (``run_core_workflows.sh``) worked one order at a time:

1. list new orders (OR11, state WAITING_ACCEPTANCE, every page);
2. for each order: accept every line (OR21), then poll OR11 for that order until it left
   WAITING_ACCEPTANCE, then the next order;
3. for each order, one label at a time: read the order (OR11, until Best Buy shows SHIPPING with the
   address), create the Canada Post shipment, download the label PDF, write it to disk;
4. for each order: tracking (OR23), then ship confirmation (OR24).

It uses our hooks (the same HTTP clients, no retries needed against an unfaulted sandbox, client
limits off), no database, no label validation, no history: a lower bound on what the seed cost, which
keeps the ratio honest. It processes ``sample`` orders for real and extrapolates linearly to N
(every order costs the same calls; only the OR11 listing grows by pages of 100, negligible).

Run by the suite in a child process (``python -m bench.baseline <config.json> <out.json>``), so the
hooks read their Airflow connections from the environment exactly as in a worker.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import env as benv
from bench.report import Section

POLL_INTERVAL_S = 1.0
MAX_POLLS = 30


def serial_workflow(label_dir: Path, log: Callable[[str], None]) -> dict[str, Any]:
    """The seed's loop with our hooks; returns per-phase seconds and the orders done."""
    from orderflow.hooks.canadapost import CanadaPostHook
    from orderflow.hooks.canadapost_model import Address, Parcel, References, ShipmentRequest
    from orderflow.hooks.mirakl import MiraklHook
    from orderflow.settings import Settings
    from orderflow.shipping_rules import choose_service_code, destination_from_mirakl, plan_parcel
    from sandbox.catalog import PRODUCTS

    settings = Settings.from_environment()
    products = {p["sku"]: p for p in PRODUCTS}
    mirakl = MiraklHook()
    cp = CanadaPostHook()
    phases: dict[str, float] = {}

    t0 = time.perf_counter()
    new_orders = mirakl.list_orders(states=["WAITING_ACCEPTANCE"])
    phases["list"] = time.perf_counter() - t0

    def read(order_id: str) -> dict[str, Any]:
        return mirakl.list_orders(order_ids=[order_id])[0]

    t0 = time.perf_counter()
    for order in new_orders:
        oid = order["order_id"]
        mirakl.accept_order(oid, [line["order_line_id"] for line in order["order_lines"]], accepted=True)
        for _ in range(MAX_POLLS):
            if read(oid)["order_state"] != "WAITING_ACCEPTANCE":
                break
            time.sleep(POLL_INTERVAL_S)
    phases["accept"] = time.perf_counter() - t0

    pins: dict[str, str] = {}
    t0 = time.perf_counter()
    for order in new_orders:
        oid = order["order_id"]
        for _ in range(MAX_POLLS):
            current = read(oid)
            if current["order_state"] == "SHIPPING":
                break
            time.sleep(POLL_INTERVAL_S)
        dest = destination_from_mirakl(current["customer"]["shipping_address"])
        plan = plan_parcel(current["order_lines"], products, default_unit_weight_kg=settings.default_parcel_weight_kg)
        request = ShipmentRequest(
            destination=Address(name=dest.name, address_line_1=dest.address_line_1, city=dest.city,
                                province=dest.province, postal_code=dest.postal_code,
                                country_code=dest.country_code),
            parcel=Parcel(plan.weight_kg, plan.length_cm, plan.width_cm, plan.height_cm),
            customer_request_id=f"{oid}-1",
            service_code=choose_service_code(plan.weight_kg, dest.country_code, settings.service_rules,
                                             default_ca=settings.default_service_code,
                                             default_us=settings.service_code_usa,
                                             default_international=settings.service_code_international),
            references=References(customer_ref_1=oid[:35]),
        )
        info = cp.create_shipment(request, look_up_first=False)
        data, _ = cp.get_label(info.label_link)
        (label_dir / f"{oid}.pdf").write_bytes(data)
        pins[oid] = info.tracking_pin
    phases["labels"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    for oid, pin in pins.items():
        mirakl.set_tracking(oid, "CPCL", pin)
        mirakl.mark_shipped(oid)
    phases["tracking"] = time.perf_counter() - t0
    return {"phases_s": phases, "orders": len(new_orders), "shipped": len(pins)}


def run(section: Section, *, orders: int, sample: int, latency_ms: float,
        log: Callable[[str], None] = print) -> dict[str, Any]:
    import subprocess

    from bench.sandbox_proc import sandbox_process

    sample = max(1, min(sample, orders))
    with (
        tempfile.TemporaryDirectory(prefix="orderflow-bench-base-") as home,
        sandbox_process(seed=8, debit_delay=0.05, rate_limits=False) as sb,
    ):
        sb.set_faults("mirakl", "*", latency_ms=latency_ms)
        sb.set_faults("canadapost", "*", latency_ms=latency_ms)
        sb.generate_orders(sample)
        conns = benv.connections(sb, mirakl_limits=benv.MIRAKL_NO_LIMITS,
                                 canadapost_limits=benv.CANADAPOST_NO_LIMITS)
        environ = benv.airflow_env(home, order_db="postgresql://unused/unused",
                                   metadata_db=f"sqlite:///{home}/airflow.db", conns=conns)
        out = Path(home) / "baseline.json"
        log(f"baseline: {sample} orders one at a time, {latency_ms:g} ms per API call")
        proc = subprocess.run([sys.executable, "-m", "bench.baseline", home, str(out)], env=environ,
                              cwd=str(benv.REPO), capture_output=True, text=True, timeout=3600)
        if proc.returncode != 0:
            raise RuntimeError(f"baseline child failed: {proc.stderr[-2000:]}")
        result = json.loads(out.read_text())
        calls = benv.call_rows(sb, "mirakl") + benv.call_rows(sb, "canadapost")
    measured = sum(result["phases_s"].values())
    done = result["shipped"]
    per_order = measured / max(1, done)
    extrapolated = done < orders
    at_n = per_order * orders
    by_endpoint = Counter(f"{c['service']}:{c['endpoint']}" for c in calls)
    section.add("orders processed for real", done, "", note=f"of {sample} generated")
    for phase, seconds in result["phases_s"].items():
        section.add(f"{phase} (serial)", round(seconds, 2), "s")
    section.add("measured total", round(measured, 1), "s")
    section.add("seconds per order", round(per_order, 3), "s/order")
    section.add(f"time for N={orders}" + (" (EXTRAPOLATED linearly)" if extrapolated else ""), round(at_n, 0), "s",
                note=f"{per_order:.3f} s/order x {orders}" if extrapolated else "measured")
    section.add("orders per minute (serial)", round(60 / per_order, 1) if per_order else None, "orders/min")
    section.add("API calls per order", round(len(calls) / max(1, done), 2), "calls/order",
                note=", ".join(f"{k} {v}" for k, v in sorted(by_endpoint.items())))
    section.details.update({"phases_s": result["phases_s"], "sample": sample, "orders_at_n": orders,
                            "calls_by_endpoint": dict(by_endpoint), "extrapolated": extrapolated})
    return {"seconds_at_n": at_n, "sample": done, "extrapolated": extrapolated, "per_order_s": per_order}


def _child(argv: list[str]) -> int:
    home, out = Path(argv[0]), Path(argv[1])
    label_dir = home / "labels"
    label_dir.mkdir(parents=True, exist_ok=True)
    result = serial_workflow(label_dir, lambda m: print(m, file=sys.stderr))
    out.write_text(json.dumps(result), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(_child(sys.argv[1:]))
