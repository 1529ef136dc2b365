"""Calls per non-contract doubt, before and after the look-up cache (issue 12 item 9).

Canada Post's non-contract API has no look-up by customer-request-id: a doubt (a lost create answer,
an intent row found by a re-run, the void step's check) lists the shipments of the look-back window
(``nc_lookback_hours``, 48 h by default) and reads shipments to find the one carrying our id.

For each rate (shipments a day) the sandbox is filled with the window's shipments (rate x 48 h)
through the real hook, then the same look-up is made:

- **before**: the hook without memory (``NothingSeen``, what every doubt cost until now): one list
  call, then Get Shipment and Get Shipment Details for every shipment in the window;
- **after, first doubt**: the hook with the product's memory (the order database's
  ``canadapost_seen_shipments`` through ``StoreSeenShipments``) still empty: the same cost, once;
- **after, next run**: one scheduled run later (15 minutes: rate / 96 new shipments) another doubt
  reads only the new shipments, plus one GET of the remembered match;
- **after, next day**: a day's new shipments later;
- **after, next day, bought by orderflow**: the same, for shipments the hook bought itself (remembered
  from their create answers: only the match is read again). The rows above count shipments bought
  elsewhere, or whose create answer was lost, which no create answer taught the memory.

Calls are counted from the sandbox's call log. Numbers are printed, never judged; beside them the
minutes of Canada Post's group A budget (646 calls a minute, shared with label buying) one doubt uses.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from bench.report import Section

RATES = (10, 100, 1000)
LOOKBACK_HOURS = 48
RUNS_PER_DAY = 96  # the DAG's */15 schedule
GROUP_A_PER_MINUTE = 646
NO_LIMITS: dict[str, float | None] = {"A": None, "B": None, "C": None, "E": None}


@contextmanager
def _non_contract_hook_env(sb: Any) -> Iterator[None]:
    from bench.env import SENDER_EXTRAS

    conn = json.loads(sb.airflow_conn_uris()["canadapost_default"])
    conn["extra"].update(SENDER_EXTRAS, api="xml", contract_id="", nc_lookback_hours=LOOKBACK_HOURS)
    old = os.environ.get("AIRFLOW_CONN_CANADAPOST_DEFAULT")
    os.environ["AIRFLOW_CONN_CANADAPOST_DEFAULT"] = json.dumps(conn)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("AIRFLOW_CONN_CANADAPOST_DEFAULT", None)
        else:
            os.environ["AIRFLOW_CONN_CANADAPOST_DEFAULT"] = old


def _request(crid: str) -> Any:
    from decimal import Decimal

    from orderflow.hooks.canadapost_model import Address, Parcel, References, ShipmentRequest

    return ShipmentRequest(
        destination=Address(name="Jane Roe", address_line_1="290 Bremner Blvd", city="Toronto", province="ON",
                            postal_code="M5V3L9", phone="416 555 0199"),
        parcel=Parcel(Decimal("1.2"), Decimal("30"), Decimal("20"), Decimal("10")),
        customer_request_id=crid, references=References(customer_ref_1=crid.rsplit("-", 1)[0]),
    )


def _calls_since(sb: Any, since: int) -> Counter[str]:
    """Calls per endpoint since ``since``, once the log has caught up with the last answer."""
    deadline, last, stable = time.monotonic() + 3.0, -1, 0
    while time.monotonic() < deadline and stable < 3:
        n = len(sb.calls("canadapost", since=since))
        stable, last = (stable + 1 if n == last else 0), n
        time.sleep(0.02)
    return Counter(c.endpoint or c.path for c in sb.calls("canadapost", since=since))


def _mark(sb: Any) -> int:
    records = sb.server("canadapost").calls_since(0)
    return records[-1].index + 1 if records else 0


def measure(rate: int, *, order_db: str, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Calls of one doubt at ``rate`` shipments a day (see the module doc)."""
    from orderflow.hooks._http import RateLimiter
    from orderflow.hooks.canadapost import CanadaPostHook
    from orderflow.hooks.canadapost_nc_lookup import NothingSeen
    from orderflow.operators.carrier_cache import StoreSeenShipments
    from orderflow.store import OrderStore
    from sandbox.testing import running_sandbox

    window = rate * LOOKBACK_HOURS // 24
    per_run = max(1, math.ceil(rate / RUNS_PER_DAY))
    store = OrderStore(order_db)
    with running_sandbox(seed=rate) as sb, _non_contract_hook_env(sb):
        RateLimiter.reset_all()
        with store.transaction() as cur:
            cur.execute("TRUNCATE canadapost_seen_shipments")

        def hook(seen: Any) -> CanadaPostHook:
            return CanadaPostHook(rate_limits=NO_LIMITS, nc_seen=seen)

        memory = StoreSeenShipments(store)
        started = time.perf_counter()
        count = 0

        def buy(n: int, seen: Any = None) -> str:
            """Shipments bought elsewhere (or whose answer was lost): nothing remembered, unless ``seen``."""
            nonlocal count
            buyer = hook(seen or NothingSeen())
            crid = ""
            for _ in range(n):
                crid = f"B{rate}x{count}-1"
                buyer.create_shipment(_request(crid), look_up_first=False)
                count += 1
            return crid

        middle = buy(window // 2)
        buy(window - window // 2)
        log(f"nc_lookups: {window} shipments in the window at {rate}/day ({time.perf_counter() - started:.0f} s)")

        def doubt(seen: Any, crid: str) -> Counter[str]:
            since = _mark(sb)
            found = hook(seen).find_shipments(customer_request_id=crid)
            assert [f.customer_request_id for f in found] == [crid], f"look-up of {crid} found {found}"
            return _calls_since(sb, since)

        out = {"rate": rate, "window": window, "new_per_run": per_run}
        out["before"] = doubt(NothingSeen(), middle)
        out["after_first"] = doubt(memory, middle)
        out["after_next_run"] = doubt(memory, buy(per_run))
        out["after_next_day"] = doubt(memory, buy(rate))
        out["after_own_day"] = doubt(memory, buy(rate, memory))
    store.close()
    return out


def run(section: Section, *, rates: tuple[int, ...] = RATES, log: Callable[[str], None] = print) -> None:
    """Fill ``section`` with calls per doubt at each rate (shipments a day)."""
    import logging

    from bench import env as benv

    # One INFO line per shipment bought would bury the table.
    logging.getLogger("orderflow.hooks.canadapost").setLevel(logging.WARNING)
    with benv.order_database("nc_lookups") as order_db:
        for rate in rates:
            m = measure(rate, order_db=order_db, log=log)
            section.details[f"{rate}/day"] = {k: dict(v) if isinstance(v, Counter) else v for k, v in m.items()}
            for key, label in (("before", "before"), ("after_first", "after, first doubt (memory empty)"),
                               ("after_next_run", f"after, next run ({m['new_per_run']} new)"),
                               ("after_next_day", f"after, next day ({rate} new)"),
                               ("after_own_day", f"after, next day ({rate} new, bought by orderflow)")):
                calls = sum(m[key].values())
                section.add(f"{rate}/day ({m['window']} in window): calls per doubt, {label}", calls, "calls",
                            note=f"{calls / GROUP_A_PER_MINUTE:.2f} min of group A")
    section.notes.append(f"window = {LOOKBACK_HOURS} h (nc_lookback_hours); a run every 15 minutes; before = no "
                         "memory (every shipment read twice per doubt), after = canadapost_seen_shipments; new "
                         "shipments bought elsewhere unless said")


def main() -> int:
    from bench.report import render_table

    section = Section("nc_lookups", "Non-contract look-ups: calls per doubt")
    run(section, log=lambda m: print(m, flush=True))
    print(render_table([section]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
