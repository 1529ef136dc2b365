"""``make bench`` (``python -m bench``): how fast and how cheaply orders flow, and how the database holds up.

Sections (``--only`` takes their names, comma-separated):

- ``db_scale``: 1M orders / 5M history rows by COPY; the DAG's, the pages' and Grafana's queries.
- ``startup``: DAG parse time and plugin import time in a fresh interpreter.
- ``baseline``: the seed's serial workflow (one order at a time) over the sandbox.
- ``pipeline``: the real DAG (``dag.test()``) over N sandbox orders with added latency; also fills
  ``api_efficiency`` (calls per order per step and endpoint, from the sandbox call log) and
  ``memory`` (peak RSS of the process running the tasks).
- ``limits``: label buying against Canada Post's and Mirakl's limits, client limits configured to match.
- ``scaling``: the pipeline through a real scheduler (tools/cluster.py) with ORDERFLOW_SHARDS 1, 2, 4 on
  the LocalExecutor and on Celery with 2 workers, its ratios to the baseline and to the latency bound, peak
  RSS per task process (``scaling``); label buying at 20 creates/min with 4 shards on 2 workers
  (``scaling_limits``). Not part of ``--quick`` unless named in ``--only`` (a cluster start is minutes).
- ``lookups``: calls per non-contract look-up (doubt) at 10, 100 and 1,000 shipments a day, before and
  after the look-up cache (``nc_lookups``).

Benchmarks report; they never fail on a time. Targets are printed beside the measured values.
The table goes to stdout, the numbers to ``bench/results/<date>-<host>.json``.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

from bench.report import SECTIONS, Section, meta, render_table, write_json

TITLES = {
    "db_scale": "Database at scale",
    "startup": "DAG parse and plugin import",
    "baseline": "Baseline: the seed's serial workflow",
    "pipeline": "Pipeline throughput (dag.test, real operators)",
    "api_efficiency": "API efficiency (sandbox call log)",
    "limits": "Against the limits",
    "memory": "Memory",
    "nc_lookups": "Non-contract look-ups: calls per doubt",
    "scaling": "Scaling out: shards through a real scheduler (LocalExecutor, Celery)",
    "scaling_limits": "Against the limits: shards on Celery workers",
}
# What each runnable part fills.
PARTS = {
    "db_scale": ("db_scale",),
    "startup": ("startup",),
    "baseline": ("baseline",),
    "pipeline": ("pipeline", "api_efficiency", "memory"),
    "limits": ("limits",),
    "lookups": ("nc_lookups",),
    "scaling": ("scaling", "scaling_limits"),
}
#: Parts a run without ``--only`` leaves out under ``--quick`` (too slow for a smoke run).
NOT_QUICK = ("scaling",)
QUICK = {"orders": 20, "db_orders": 5_000, "db_history": 25_000, "repeat": 3, "startup_runs": 1,
         "baseline_sample": 5, "limits_seconds": 5, "limits_orders": 10, "alt_workers": 0,
         "lookups_rates": "10", "scaling_orders": 20, "scaling_shards": "2", "scaling_executors": "local",
         "scaling_limits_seconds": 0}


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--orders", type=int, default=1000, help="sandbox orders through the pipeline (default 1000)")
    p.add_argument("--latency-ms", type=float, default=50.0, help="added latency per sandbox API call (default 50)")
    p.add_argument("--db-orders", type=int, default=1_000_000, help="orders in the scale database (default 1M)")
    p.add_argument("--db-history", type=int, default=5_000_000, help="history rows in the scale database (default 5M)")
    p.add_argument("--repeat", type=int, default=15, help="runs per query, the median is reported (default 15)")
    p.add_argument("--startup-runs", type=int, default=5, help="fresh interpreters per startup timing (default 5)")
    p.add_argument("--baseline-sample", type=int, default=100,
                   help="orders the serial baseline really processes; it is extrapolated to --orders (default 100)")
    p.add_argument("--limits-seconds", type=float, default=180.0,
                   help="how long label buying runs against the limits (default 180)")
    p.add_argument("--limits-orders", type=int, default=120, help="orders waiting for a label in the limits run")
    p.add_argument("--max-workers", type=int, default=None,
                   help="ORDERFLOW_MAX_WORKERS for the pipeline (default: the product's setting)")
    p.add_argument("--alt-workers", type=int, default=32,
                   help="also run the pipeline with ORDERFLOW_MAX_WORKERS=this (0: skip; default 32)")
    p.add_argument("--lookups-rates", default="10,100,1000",
                   help="shipments a day the look-up benchmark measures at (default 10,100,1000)")
    p.add_argument("--scaling-orders", type=int, default=1000, help="orders per scaling configuration (default 1000)")
    p.add_argument("--scaling-shards", default="1,2,4", help="ORDERFLOW_SHARDS values to run (default 1,2,4)")
    p.add_argument("--scaling-executors", default="local,celery", help="local and/or celery (default both)")
    p.add_argument("--scaling-workers", type=int, default=2, help="Celery workers (default 2)")
    p.add_argument("--scaling-limits-seconds", type=float, default=180.0,
                   help="label-buying window with 4 shards on the Celery workers (0: skip; default 180)")
    p.add_argument("--only", default="", help=f"comma-separated parts to run: {', '.join(PARTS)}")
    p.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run of every part in about a minute")
    p.add_argument("--keep-db", action="store_true", help="keep the scale database afterwards")
    p.add_argument("--results-dir", default=None, help="where the JSON goes (default bench/results)")
    p.add_argument("--explain-dir", default=None, help="where EXPLAIN texts go (default bench/results/explain)")
    args = p.parse_args(argv)
    if args.quick:
        defaults = p.parse_args([])
        for key, value in QUICK.items():
            if getattr(args, key) == getattr(defaults, key):
                setattr(args, key, value)
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in only if s not in PARTS]
    if unknown:
        p.error(f"unknown part(s) {unknown}; choose from {', '.join(PARTS)}")
    args.parts = only or [name for name in PARTS if not (args.quick and name in NOT_QUICK)]
    return args


def main(argv: list[str] | None = None) -> int:
    from pathlib import Path

    args = parse_args(argv)
    sections = {name: Section(name, TITLES[name]) for name in SECTIONS}
    info = meta({k: v for k, v in vars(args).items() if k != "parts"} | {"parts": args.parts})
    shared: dict[str, Any] = {}

    def part(name: str, body: Callable[[], None]) -> None:
        if name not in args.parts:
            for s in PARTS[name]:
                sections[s].status = "skipped"
            return
        log(f"{name}: start")
        started = time.perf_counter()
        try:
            body()
        except Exception as exc:
            traceback.print_exc()
            for s in PARTS[name]:
                sections[s].status = "error"
                sections[s].error = f"{type(exc).__name__}: {exc}"[:500]
        finally:
            sections[PARTS[name][0]].seconds = time.perf_counter() - started
            log(f"{name}: done in {time.perf_counter() - started:.0f} s")

    def db_scale() -> None:
        from bench import db_scale as mod

        if args.explain_dir:
            mod.EXPLAIN_DIR = Path(args.explain_dir)
        mod.run(sections["db_scale"], orders=args.db_orders, history=args.db_history, repeat=args.repeat,
                keep=args.keep_db, log=log)

    def startup() -> None:
        from bench import startup as mod

        mod.run(sections["startup"], runs=args.startup_runs, log=log)

    def baseline() -> None:
        from bench import baseline as mod

        shared["baseline"] = mod.run(sections["baseline"], orders=args.orders, sample=args.baseline_sample,
                                     latency_ms=args.latency_ms, log=log)

    def pipeline() -> None:
        from bench import pipeline as mod

        mod.run(sections["pipeline"], sections["api_efficiency"], sections["memory"], orders=args.orders,
                latency_ms=args.latency_ms, max_workers=args.max_workers, baseline=shared.get("baseline"),
                alt_workers=args.alt_workers, log=log)

    def limits() -> None:
        from bench import limits as mod

        mod.run(sections["limits"], seconds=args.limits_seconds, orders=args.limits_orders,
                latency_ms=args.latency_ms, log=log)

    def lookups() -> None:
        from bench import nc_lookups as mod

        rates = tuple(int(r) for r in args.lookups_rates.split(",") if r.strip())
        mod.run(sections["nc_lookups"], rates=rates, log=log)

    def scaling() -> None:
        from bench import scaling as mod

        mod.run(sections["scaling"], orders=args.scaling_orders, latency_ms=args.latency_ms,
                shards=tuple(int(s) for s in args.scaling_shards.split(",") if s.strip()),
                executors=tuple(e.strip() for e in args.scaling_executors.split(",") if e.strip()),
                workers=args.scaling_workers, max_workers=args.max_workers, baseline=shared.get("baseline"),
                log=log)
        if args.scaling_limits_seconds:
            mod.run_limits(sections["scaling_limits"], seconds=args.scaling_limits_seconds,
                           orders=args.limits_orders, latency_ms=args.latency_ms, shards=4,
                           workers=args.scaling_workers, max_workers=args.max_workers, log=log)
        else:
            sections["scaling_limits"].status = "skipped"

    # Cheap parts first; the baseline before the pipeline (the pipeline prints the ratio).
    part("startup", startup)
    part("baseline", baseline)
    part("pipeline", pipeline)
    part("limits", limits)
    part("lookups", lookups)
    part("scaling", scaling)
    part("db_scale", db_scale)

    ordered = [sections[name] for name in SECTIONS]
    print(render_table(ordered))
    results_dir = Path(args.results_dir) if args.results_dir else None
    path = write_json(info, ordered, results_dir) if results_dir else write_json(info, ordered)
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
