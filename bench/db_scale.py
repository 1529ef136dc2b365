"""Database at scale: 1,000,000 orders with 5,000,000 history rows, and the queries that read them.

The data lands by COPY (never row by row) in a throwaway database migrated like production, in
chunks streamed from a deterministic generator. Its shape follows the status machine: most orders
are old and ``shipped`` (pending_acceptance -> accepted -> label_created [-> packed] -> shipped,
some with a failure and a person's retry in between), a few percent ``canceled``/``refused``, and
the most recent ones sit in the work queues (``pending_acceptance``, ``accepted``,
``label_created``...), with a handful in the rare ``*_failed`` states. Orders get lines and, once a
label exists, a shipment; a tenth of them a customer conversation.

**Triggers during the load.** ``order_status_history``'s triggers check every insert against the
status machine and update ``orders.current_status`` row by row. Replaying 5 million transitions
through them would measure the triggers, not the queries, so in this throwaway database the load
disables them (``DISABLE TRIGGER ALL`` when we are superuser: foreign-key checks too; else
``DISABLE TRIGGER USER``), writes ``orders.current_status``/``current_status_at``/
``current_history_id`` exactly as the triggers would (the last history row of each order), and
enables them again before anything is measured. Secondary indexes are dropped before the load and
rebuilt from their own definitions after it (faster than maintaining them row by row), then
``VACUUM (ANALYZE)`` leaves the tables as autovacuum would in production.

Each query then runs ``repeat`` times (after one warm-up) on a warm cache; the median is reported
and its ``EXPLAIN (ANALYZE, BUFFERS)`` saved under ``bench/results/explain/``. A sequential scan or
a sort over the whole of ``order_status_history`` is flagged.
"""

from __future__ import annotations

import io
import json
import os
import random
import re
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.report import RESULTS_DIR, Section

REPO = Path(__file__).resolve().parent.parent
EXPLAIN_DIR = RESULTS_DIR / "explain"
GRAFANA_DIR = REPO / "grafana" / "dashboards"
ORDER_DB_GRAFANA_UID = "orderflow-db"

STATUS_TARGET_MS = 20.0
ONE_ORDER_TARGET_MS = 2.0

# Share of all orders in each non-terminal state (the newest orders) and in each terminal one.
QUEUE_SHARES = {
    "pending_acceptance": 0.002,
    "accepted": 0.003,
    "label_created": 0.0015,
    "packed": 0.0005,
    "acceptance_failed": 0.00004,  # the rare one: about 40 of a million
    "label_failed": 0.00003,
    "tracking_failed": 0.00002,
}
TERMINAL_SHARES = {"canceled": 0.03, "refused": 0.005}  # the rest: shipped

BASE_PATHS = {
    "pending_acceptance": ["pending_acceptance"],
    "accepted": ["pending_acceptance", "accepted"],
    "label_created": ["pending_acceptance", "accepted", "label_created"],
    "packed": ["pending_acceptance", "accepted", "label_created", "packed"],
    "acceptance_failed": ["pending_acceptance", "acceptance_failed"],
    "label_failed": ["pending_acceptance", "accepted", "label_failed"],
    "tracking_failed": ["pending_acceptance", "accepted", "label_created", "tracking_failed"],
    "canceled": ["pending_acceptance", "canceled"],
    "refused": ["pending_acceptance", "refused"],
    "shipped": ["pending_acceptance", "accepted", "label_created", "shipped"],
}
ACTOR = {
    "pending_acceptance": "orderflow_core.fetch_orders",
    "accepted": "orderflow_core.accept_orders",
    "acceptance_failed": "orderflow_core.accept_orders",
    "refused": "orderflow_core.accept_orders",
    "canceled": "orderflow_core.fetch_orders",
    "label_created": "orderflow_core.buy_labels",
    "label_failed": "orderflow_core.buy_labels",
    "packed": "packer:alice",
    "shipped": "orderflow_core.push_tracking",
    "tracking_failed": "orderflow_core.push_tracking",
}
STEP_GAP = {  # how long after the previous row each status is written
    "pending_acceptance": timedelta(minutes=7),
    "accepted": timedelta(minutes=15),
    "label_created": timedelta(hours=3),
    "packed": timedelta(hours=2),
    "shipped": timedelta(minutes=45),
    "canceled": timedelta(hours=5),
    "refused": timedelta(hours=20),
    "acceptance_failed": timedelta(minutes=15),
    "label_failed": timedelta(minutes=30),
    "tracking_failed": timedelta(minutes=30),
}
CITIES = [("Toronto", "ON", "M5V 2T6"), ("Montreal", "QC", "H2X 1Y4"), ("Vancouver", "BC", "V6B 1A1"),
          ("Calgary", "AB", "T2P 1J9"), ("Ottawa", "ON", "K1P 5N2"), ("Halifax", "NS", "B3J 1S9"),
          ("Winnipeg", "MB", "R3C 0V8"), ("Quebec", "QC", "G1R 4P5")]
FIRST = ["Emma", "Liam", "Olivia", "Noah", "Chloe", "Lucas", "Maya", "Ethan", "Sofia", "Owen", "Lea", "Jacob"]
LAST = ["Tremblay", "Smith", "Roy", "Brown", "Gagnon", "Wilson", "Cote", "Li", "Martin", "Singh", "Patel"]


# ---------------------------------------------------------------------------------------------
# Generation
# ---------------------------------------------------------------------------------------------


def _ts(moment: datetime) -> str:
    return moment.isoformat(" ")


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":")).replace("\\", "\\\\")


@dataclass
class Plan:
    orders: int
    history: int
    seed: int = 8
    now: datetime = field(default_factory=lambda: datetime.now(UTC).replace(microsecond=0))
    span_days: int = 730

    def final_statuses(self) -> list[str]:
        """Final status of every order index (newest orders hold the queue states)."""
        rnd = random.Random(self.seed)
        n = self.orders
        queue: list[str] = []
        for status, share in QUEUE_SHARES.items():
            queue += [status] * max(1, round(n * share))
        queue = queue[: max(0, n // 2)]
        rnd.shuffle(queue)
        old = n - len(queue)
        terminal: list[str] = []
        for status, share in TERMINAL_SHARES.items():
            terminal += [status] * round(old * share)
        terminal += ["shipped"] * (old - len(terminal))
        rnd.shuffle(terminal)
        return terminal + queue

    def paths(self) -> list[list[str]]:
        """Every order's history; extra rows (packing, a failure and its retry) on shipped orders
        make the total exactly ``history`` when it can be."""
        finals = self.final_statuses()
        paths = [list(BASE_PATHS[s]) for s in finals]
        base = sum(len(p) for p in paths)
        shipped = [i for i, s in enumerate(finals) if s == "shipped"]
        extra = self.history - base
        if extra <= 0 or not shipped:
            return paths
        count = len(shipped)
        for k, i in enumerate(shipped):
            rows = (k + 1) * extra // count - k * extra // count
            path = paths[i]
            if rows % 2:  # packed at the packing station before tracking
                path.insert(path.index("shipped"), "packed")
            for loop in range(rows // 2):  # a failure, then a person's retry
                if loop % 2 == 0:
                    at = path.index("accepted") + 1
                    path[at:at] = ["label_failed", "accepted"]
                else:
                    at = path.index("label_created") + 1
                    path[at:at] = ["tracking_failed", "label_created"]
        return paths


@dataclass
class Counts:
    orders: int = 0
    history: int = 0
    lines: int = 0
    shipments: int = 0
    customers: int = 0
    conversations: int = 0
    messages: int = 0


def generate_chunks(plan: Plan, chunk: int = 25_000) -> Iterator[tuple[dict[str, io.StringIO], Counts]]:
    """Yield COPY text buffers per table, ``chunk`` orders at a time."""
    from sandbox.catalog import PRODUCTS

    skus = [p["sku"] for p in PRODUCTS]
    titles = {p["sku"]: p["name"].replace("\t", " ") for p in PRODUCTS}
    rnd = random.Random(plan.seed + 1)
    paths = plan.paths()
    n = plan.orders
    start = plan.now - timedelta(days=plan.span_days)
    step = timedelta(days=plan.span_days) / max(1, n)
    n_customers = max(1, n // 20)
    history_id = 0
    shipment_id = 0
    conversation_id = 0
    message_id = 0
    counts = Counts()
    run_ids: dict[int, str] = {}
    for first in range(0, n, chunk):
        out = {t: io.StringIO() for t in ("orders", "order_lines", "order_status_history", "shipments",
                                         "conversations", "messages")}
        if first == 0:
            out["customers"] = io.StringIO()
            for c in range(n_customers):
                fn, ln = FIRST[c % len(FIRST)], LAST[c % len(LAST)]
                out["customers"].write(f"C{c:07d}\t{fn}\t{ln}\t{fn} {ln[0]}.\ten_CA\n")
            counts.customers = n_customers
        for i in range(first, min(n, first + chunk)):
            path = paths[i]
            oid = f"{200000000 + i}-A"
            created = start + step * i
            if created > plan.now - timedelta(hours=1):
                created = plan.now - timedelta(hours=1) - timedelta(seconds=(n - i))
            customer = f"C{rnd.randrange(n_customers):07d}"
            fn, ln = FIRST[i % len(FIRST)], LAST[(i // 7) % len(LAST)]
            city, prov, postal = CITIES[i % len(CITIES)]
            # history rows
            moment = created
            last_hid = 0
            label_at = None
            previous = "\\N"
            for status in path:
                history_id += 1
                moment = moment + STEP_GAP[status] * (0.5 + rnd.random())
                if moment > plan.now:
                    moment = plan.now - timedelta(seconds=rnd.randrange(1, 600))
                actor = ACTOR[status]
                if actor.startswith("packer"):
                    run_id, run_part = "\\N", ""
                else:  # the scheduled run of that quarter hour
                    slot = int(moment.timestamp()) // 900 * 900
                    run_id = run_ids.get(slot)
                    if run_id is None:
                        run_id = run_ids[slot] = f"scheduled__{datetime.fromtimestamp(slot, UTC).isoformat()}"
                    run_part = f',"run_id":"{run_id}"'
                reason = "carrier refused the address" if status.endswith("_failed") else status.replace("_", " ")
                codes = ',"codes":["1111"],"http_status":400' if status.endswith("_failed") else ""
                out["order_status_history"].write(
                    f"{history_id}\t{oid}\t{status}\t{previous}\t{_ts(moment)}\t{run_id}\t{actor}\t"
                    f'{{"step":"{actor.rsplit(".", 1)[-1]}","reason":"{reason}"{codes}{run_part}}}\n'
                )
                last_hid = history_id
                previous = status
                if status == "label_created" and label_at is None:
                    label_at = moment
            last_status, last_at = path[-1], moment
            mirakl_state = {"pending_acceptance": "WAITING_ACCEPTANCE", "canceled": "CANCELED",
                            "refused": "REFUSED", "shipped": "SHIPPED"}.get(last_status, "SHIPPING")
            price = 20 + (i * 37) % 900
            address = {"city": city, "state": prov, "zip_code": postal, "country_iso_code": "CAN",
                       "street_1": f"{(i % 900) + 1} Main St", "firstname": fn, "lastname": ln}
            raw = {"order_id": oid, "order_state": mirakl_state, "total_price": price}
            out["orders"].write(
                f"{oid}\t{200000000 + i}\t{mirakl_state}\t{_ts(created)}\t{_ts(last_at)}\t"
                f"{_ts(created + timedelta(hours=24))}\t{_ts(created + timedelta(days=2))}\t2\t{customer}\t{fn}\t{ln}\t"
                f"{_json(address)}\t{city}\t{prov}\t{postal}\tCAN\t{price}.00\t9.99\t{price + 9}.99\tCAD\t"
                f"{_json(raw)}\t{_ts(created)}\t{_ts(last_at)}\t{last_status}\t{_ts(last_at)}\t{last_hid}\n"
            )
            counts.orders += 1
            counts.history += len(path)
            for k in range(1 + (i % 3 == 0)):
                sku = skus[(i + k) % len(skus)]
                qty = 1 + (i + k) % 2
                out["order_lines"].write(
                    f"{oid}-{k + 1}\t{oid}\t{k}\t{sku}\t{sku}\t{titles[sku]}\t{qty}\t{price}.00\t{price * qty}.00\t"
                    f"0.00\t{price * qty}.00\t{mirakl_state}\t{{}}\n"
                )
                counts.lines += 1
            if label_at is not None:
                shipment_id += 1
                pin = f"{7023000000000000 + i}"
                out["shipments"].write(
                    f"{shipment_id}\t{oid}\t1\t{oid}-1\tlabel_stored\txml\t{340000000000 + i}\t{pin}\tDOM.EP\t"
                    f"{{}}\t1.200\t{14 + i % 20}.35\tCAD\t/labels/{oid}/{oid}-1.pdf\t{'0' * 64}\tapplication/pdf\t1\t"
                    f"{_ts(label_at)}\t{_ts(label_at)}\n"
                )
                counts.shipments += 1
            if i % 10 == 0:  # a tenth of orders get a conversation of 1 to 5 messages
                conversation_id += 1
                n_msg = 1 + (i // 10) % 5
                sent = created + timedelta(hours=6)
                last_sender = "CUSTOMER"
                msg_rows = []
                for k in range(n_msg):
                    message_id += 1
                    sender = "CUSTOMER" if k % 2 == 0 else "SHOP"
                    auto = sender == "SHOP" and k == 1 and i % 20 == 0
                    sent = sent + timedelta(hours=1 + k)
                    if sent > plan.now:
                        sent = plan.now - timedelta(seconds=n - i + k)
                    name = fn if sender == "CUSTOMER" else "Shop"
                    msg_rows.append(
                        f"{message_id}\tM{message_id}\t{conversation_id}\t{sender}\t{name}\t"
                        f"Question about order {oid}, message {k + 1}\t{_ts(sent)}\t{'t' if auto else 'f'}\t\\N\t"
                        f"{'agent' if sender == 'SHOP' and not auto else chr(92) + 'N'}\t"
                        f"{'auto_ack' if auto else chr(92) + 'N'}\t{{}}\t{_ts(sent)}\n"
                    )
                    last_sender = sender
                # A customer waiting is recent: only conversations of the last few days stay open.
                waiting = last_sender == "CUSTOMER" and created > plan.now - timedelta(days=4)
                needed = _ts(sent) if waiting else "\\N"
                out["conversations"].write(
                    f"{conversation_id}\tT{conversation_id:08d}\t{oid}\t{customer}\tOrder question\t{_ts(sent)}\t"
                    f"{last_sender}\t{needed}\t{{}}\t{_ts(created)}\t{_ts(sent)}\t{needed}\t{n_msg}\n"
                )
                for row in msg_rows:
                    out["messages"].write(row)
                counts.conversations += 1
                counts.messages += n_msg
        yield out, counts


COLUMNS = {
    "customers": "customer_id, firstname, lastname, display_name, locale",
    "orders": (
        "order_id, commercial_id, mirakl_state, created_date, last_updated_date, acceptance_deadline, "
        "shipping_deadline, leadtime_to_ship, customer_id, customer_firstname, customer_lastname, shipping_address, "
        "shipping_city, shipping_province, shipping_postal_code, shipping_country, price, shipping_price, "
        "total_price, currency, raw, ingested_at, updated_at, current_status, current_status_at, current_history_id"
    ),
    "order_lines": (
        "order_line_id, order_id, line_index, offer_sku, product_sku, title, quantity, price_unit, price, "
        "shipping_price, total_price, state, raw"
    ),
    "order_status_history": "id, order_id, status, from_status, created_at, run_id, actor, detail",
    "shipments": (
        "id, order_id, package_no, customer_request_id, status, transport, shipment_id, tracking_pin, service_code, "
        "links, weight_kg, price, currency, label_path, label_sha256, label_content_type, attempts, created_at, "
        "updated_at"
    ),
    "conversations": (
        "conversation_id, mirakl_thread_id, order_id, customer_id, topic, last_message_at, last_sender_type, "
        "reply_needed_since, raw, created_at, updated_at, human_reply_needed_since, mirakl_message_count"
    ),
    "messages": (
        "message_id, mirakl_message_id, conversation_id, sender_type, sender_name, body, sent_at, is_auto_reply, "
        "in_reply_to, sent_by, template_name, raw, created_at"
    ),
}
LOAD_ORDER = ["customers", "orders", "order_lines", "order_status_history", "shipments", "conversations", "messages"]
SEQUENCES = {
    "order_status_history": "id", "shipments": "id", "conversations": "conversation_id", "messages": "message_id",
}


def _produce(plan: Plan, queue: Any) -> None:
    """Generator process: COPY texts go to the loading process through ``queue`` (None ends)."""
    try:
        for buffers, counts in generate_chunks(plan):
            queue.put(({t: b.getvalue() for t, b in buffers.items()}, counts))
        queue.put(None)
    except BaseException as exc:  # the loader must not wait forever
        queue.put(exc)
        raise


def _chunks_from_process(plan: Plan) -> Iterator[tuple[dict[str, str], Counts]]:
    """Generate in a second process while this one COPYs: Python and PostgreSQL each get a core."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue(maxsize=3)
    producer = ctx.Process(target=_produce, args=(plan, queue), name="bench-db-generator", daemon=True)
    producer.start()
    try:
        while True:
            item = queue.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise RuntimeError("the data generator failed") from item
            yield item
    finally:
        producer.join(timeout=10)
        if producer.is_alive():
            producer.terminate()


def load(conn: Any, plan: Plan, log: Callable[[str], None]) -> dict[str, Any]:
    """COPY the plan into the (migrated, empty) database behind ``conn``; return timings and counts."""
    timings: dict[str, float] = {}
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
    superuser = bool(cur.fetchone()[0])
    trigger_scope = "ALL" if superuser else "USER"
    cur.execute("SET maintenance_work_mem = '512MB'")
    cur.execute("SET synchronous_commit = off")
    # Products (the packing queries join them) straight from the sandbox catalog.
    from sandbox.catalog import PRODUCTS

    for p in PRODUCTS:
        cur.execute(
            "INSERT INTO products (sku, name, weight_kg, length_cm, width_cm, height_cm) VALUES (%s,%s,%s,%s,%s,%s)",
            (p["sku"], p["name"], p["weight_kg"], p["length_cm"], p["width_cm"], p["height_cm"]),
        )
        for comp in p["components"]:
            cur.execute(
                "INSERT INTO product_components (sku, barcode, name, quantity) VALUES (%s,%s,%s,%s)"
                " ON CONFLICT DO NOTHING",
                (p["sku"], comp["barcode"], comp["name"], comp.get("quantity", 1)),
            )
    # Secondary indexes: remember their definitions, drop them, rebuild after the load.
    cur.execute(
        """SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
             FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid
            WHERE t.relname = ANY(%s) AND NOT i.indisprimary AND NOT i.indisunique
              AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)""",
        (LOAD_ORDER,),
    )
    index_defs = cur.fetchall()
    for name, _ in index_defs:
        cur.execute(f"DROP INDEX {name}")
    for table in LOAD_ORDER:
        cur.execute(f"ALTER TABLE {table} DISABLE TRIGGER {trigger_scope}")
    started = time.perf_counter()
    gen_seconds = 0.0  # time spent waiting for the generator (it runs beside the COPY)
    copy_seconds = 0.0
    counts = Counts()
    try:
        chunks = _chunks_from_process(plan)
        while True:
            t0 = time.perf_counter()
            try:
                texts, counts = next(chunks)
            except StopIteration:
                break
            gen_seconds += time.perf_counter() - t0
            t0 = time.perf_counter()
            for table in LOAD_ORDER:
                text = texts.get(table)
                if not text:
                    continue
                cur.copy_expert(f"COPY {table} ({COLUMNS[table]}) FROM STDIN", io.StringIO(text))
            copy_seconds += time.perf_counter() - t0
            if counts.orders % 200_000 < 25_000:
                log(f"db_scale: {counts.orders:,} orders, {counts.history:,} history rows loaded")
    finally:
        for table in LOAD_ORDER:
            cur.execute(f"ALTER TABLE {table} ENABLE TRIGGER {trigger_scope}")
    timings["generate_s"] = gen_seconds
    timings["copy_s"] = copy_seconds
    for table, column in SEQUENCES.items():
        cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), "
                    f"(SELECT coalesce(max({column}), 1) FROM {table}))")
    t0 = time.perf_counter()
    for _, definition in index_defs:
        cur.execute(definition)
    timings["index_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    cur.execute("VACUUM (ANALYZE) orders, order_lines, order_status_history, shipments, conversations, messages, "
                "customers, products, product_components")
    timings["vacuum_analyze_s"] = time.perf_counter() - t0
    timings["total_s"] = time.perf_counter() - started
    cur.execute("SELECT pg_total_relation_size('order_status_history'), pg_total_relation_size('orders'),"
                " pg_database_size(current_database())")
    hist_bytes, orders_bytes, db_bytes = cur.fetchone()
    cur.close()
    return {
        "trigger_scope_during_load": trigger_scope,
        "rebuilt_indexes": [name for name, _ in index_defs],
        "timings_s": {k: round(v, 1) for k, v in timings.items()},
        "counts": counts.__dict__,
        "sizes_mb": {
            "order_status_history": round(hist_bytes / 2**20),
            "orders": round(orders_bytes / 2**20),
            "database": round(db_bytes / 2**20),
        },
    }


# ---------------------------------------------------------------------------------------------
# Queries
# ---------------------------------------------------------------------------------------------


@dataclass
class Probe:
    name: str
    sql: str
    params: Any = None
    kind: str = "page"  # status | one_order | dag | page | grafana | suggestion (a proposed rewrite)
    target_ms: float | None = None
    write: bool = False  # run inside a transaction that is rolled back
    source: str = ""
    setup: str = ""  # run first in the same transaction, untimed (e.g. SET LOCAL jit = off)


# The task try a claim names (migration 017), and no ended try to take claims from.
CLAIM_TRY = {"dag_id": "orderflow_core", "run_id": "bench", "task_id": "bench", "map_index": -1, "try_number": 1,
             "ended_owners": [], "ended_tries": []}


def _named(name: str) -> str:
    from orderflow.sql import query

    return query(name)


def probes(conn: Any) -> list[Probe]:
    """The queries the DAG, the pages and the Grafana panels run, with realistic parameters."""
    cur = conn.cursor()
    # An order from the middle of the history (an old, shipped one, with its full trail).
    cur.execute("SELECT order_id FROM order_status_history WHERE id >= (SELECT max(id) / 2 FROM order_status_history)"
                " ORDER BY id LIMIT 1")
    one_order = cur.fetchone()[0]
    cur.execute("SELECT run_id, actor FROM order_status_history WHERE status = 'label_failed' AND run_id IS NOT NULL"
                " ORDER BY id DESC LIMIT 1")
    run = cur.fetchone() or ("scheduled__none", "orderflow_core.buy_labels")
    cur.execute("SELECT conversation_id FROM conversations ORDER BY conversation_id DESC LIMIT 1")
    conv = cur.fetchone()
    conversation_id = conv[0] if conv else 0
    cur.close()

    def status(name: str, st: str) -> Probe:
        return Probe(name, _named("orders_in_status"), {"status": st, "after": None, "limit": 100}, "status",
                     STATUS_TARGET_MS, source="orders_in_status.sql")

    out = [
        status("orders_in_status: pending_acceptance (queue)", "pending_acceptance"),
        status("orders_in_status: accepted (queue)", "accepted"),
        status("orders_in_status: acceptance_failed (rare)", "acceptance_failed"),
        status("orders_in_status: shipped (96% of orders)", "shipped"),
        Probe("claim_orders: pending_acceptance x100", _named("claim_orders"),
              {"statuses": ["pending_acceptance"], "step": "acceptance", "owner": "bench", "limit": 100, "ttl": 1800,
               "require_packed": False, "packed_statuses": ["packed"], "shard": 0, "shards": 1, **CLAIM_TRY},
              "status", STATUS_TARGET_MS, write=True, source="claim_orders.sql"),
        Probe("claim_orders: accepted x100", _named("claim_orders"),
              {"statuses": ["accepted"], "step": "shipping", "owner": "bench", "limit": 100, "ttl": 1800,
               "require_packed": False, "packed_statuses": ["packed"], "shard": 0, "shards": 1, **CLAIM_TRY},
              "status", STATUS_TARGET_MS, write=True, source="claim_orders.sql"),
        Probe("orders_failed_by_run (task retry)", _named("orders_failed_by_run"),
              {"run_id": run[0], "actor": run[1], "status": "label_failed", "shard": 0, "shards": 1}, "status",
              STATUS_TARGET_MS,
              source="orders_failed_by_run.sql"),
        Probe("order_history: one order", _named("order_history"), {"order_id": one_order}, "one_order",
              ONE_ORDER_TARGET_MS, source="order_history.sql"),
        Probe("get_order: one order", _named("get_order"), {"order_id": one_order}, "one_order",
              ONE_ORDER_TARGET_MS, source="get_order.sql"),
        Probe("shipments_for_order: one order", _named("shipments_for_order"), {"order_id": one_order}, "one_order",
              ONE_ORDER_TARGET_MS, source="shipments_for_order.sql"),
        Probe("status_counts (every order)", _named("status_counts"), {}, "dag", None, source="status_counts.sql"),
        Probe("pack_queue (label_created, packed) x200", _named("pack_queue"),
              {"statuses": ["label_created", "packed"], "unlabelled": [], "limit": 200}, "status", STATUS_TARGET_MS,
              source="pack_queue.sql"),
        Probe("pack_order_header: one order", _named("pack_order_header"), {"order_id": one_order}, "one_order",
              ONE_ORDER_TARGET_MS, source="pack_order_header.sql"),
        Probe("pack_expected_components: one order", _named("pack_expected_components"), {"order_id": one_order},
              "one_order", ONE_ORDER_TARGET_MS, source="pack_expected_components.sql"),
        Probe("inbox_conversations: all x50", _named("inbox_conversations"),
              {"needs_reply_only": False, "order_id": None, "limit": 50}, "page", STATUS_TARGET_MS,
              source="inbox_conversations.sql"),
        Probe("inbox_conversations: needs reply x50", _named("inbox_conversations"),
              {"needs_reply_only": True, "order_id": None, "limit": 50}, "page", STATUS_TARGET_MS,
              source="inbox_conversations.sql"),
        Probe("inbox_counts", _named("inbox_counts"), {}, "page", None, source="inbox_counts.sql"),
        Probe("inbox_messages: one conversation", _named("inbox_messages"), {"conversation_id": conversation_id},
              "one_order", ONE_ORDER_TARGET_MS, source="inbox_messages.sql"),
        Probe("msg_auto_reply_candidates x100", _named("msg_auto_reply_candidates"), {"limit": 100}, "dag",
              STATUS_TARGET_MS, source="msg_auto_reply_candidates.sql"),
    ]
    out += grafana_probes(grafana_role_setup(conn))
    out += suggestions(out, {"run_id": run[0], "actor": run[1], "status": "label_failed", "shard": 0, "shards": 1})
    return out


# What-if rewrites of queries the benchmark found slow: same results, timed beside the originals so
# the numbers behind each recommendation are reproducible (kind "suggestion"). The SQL of record
# stays in include/sql and grafana/. The rewrites proposed by the first run (orders_failed_by_run
# joined by primary key, "Orders by current status" counting before the join, "Time in each step"
# through LATERAL, no JIT for Grafana's role) are applied there now (migration 009 for the JIT).
def suggestions(probes_so_far: list[Probe], failed_params: dict[str, Any]) -> list[Probe]:
    return []


GRAFANA_ROLE = "orderflow_grafana"


def grafana_role_setup(conn: Any) -> str:
    """``SET LOCAL`` statements for the settings Grafana's role gets at login (ALTER ROLE ... SET,
    e.g. migration 009's jit = off): the benchmark connects as the migrating user, so it applies
    them itself to time the panels as Grafana's sessions run them."""
    cur = conn.cursor()
    cur.execute(
        """SELECT unnest(s.setconfig)
             FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole
            WHERE r.rolname = %s
              AND s.setdatabase IN (0, (SELECT oid FROM pg_database WHERE datname = current_database()))
            ORDER BY s.setdatabase""",  # the database-specific setting wins: applied last
        (GRAFANA_ROLE,),
    )
    statements = []
    for (item,) in cur.fetchall():
        name, _, value = item.partition("=")
        cur.execute("SELECT format('SET LOCAL %%I = %%L', %s::text, %s::text)", (name, value))
        statements.append(cur.fetchone()[0])
    cur.close()
    conn.rollback()
    return "; ".join(statements)


# Grafana's PostgreSQL macros, the few our dashboards use (as the server expands them).
_MACRO = re.compile(r"\$(__[a-zA-Z]+)\(([^\)]*)\)")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def expand_grafana(sql: str, variables: dict[str, str], start: datetime, end: datetime) -> str:
    def var(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        return str(variables.get(name, match.group(0)))

    sql = re.sub(r"\$\{(\w+)\}|\$(?!__)(\w+)", var, sql)

    def macro(match: re.Match[str]) -> str:
        name, args = match.group(1), [a.strip() for a in match.group(2).split(",")]
        frm, to = start.strftime("%Y-%m-%dT%H:%M:%SZ"), end.strftime("%Y-%m-%dT%H:%M:%SZ")
        if name == "__timeFilter":
            return f"{args[0]} BETWEEN '{frm}' AND '{to}'"
        if name in ("__timeGroup", "__timeGroupAlias"):
            interval = args[1].strip("'")
            seconds = int(interval[:-1]) * _UNITS[interval[-1]]
            expr = f"floor(extract(epoch from {args[0]})/{seconds})*{seconds}"
            return expr + (' AS "time"' if name.endswith("Alias") else "")
        if name == "__timeFrom":
            return f"'{frm}'"
        if name == "__timeTo":
            return f"'{to}'"
        raise ValueError(f"macro {name} not supported by the benchmark")

    return _MACRO.sub(macro, sql)


def grafana_probes(setup: str = "") -> list[Probe]:
    """Every order-DB panel query, with the Grafana role's session settings (``setup``)."""
    out: list[Probe] = []
    end = datetime.now(UTC)
    for path in sorted(GRAFANA_DIR.glob("*.json")):
        board = json.loads(path.read_text(encoding="utf-8"))
        variables = {}
        for v in (board.get("templating") or {}).get("list") or []:
            current = (v.get("current") or {}).get("value")
            if current is None and v.get("query"):
                current = str(v["query"]).split(",")[0]
            variables[v["name"]] = current
        frm = (board.get("time") or {}).get("from", "now-7d")
        m = re.fullmatch(r"now-(\d+)([smhdw])", frm)
        start = end - timedelta(seconds=int(m.group(1)) * _UNITS[m.group(2)]) if m else end - timedelta(days=7)

        panels = list(board.get("panels") or [])
        while panels:
            panel = panels.pop(0)
            panels.extend(panel.get("panels") or [])  # rows hold panels
            for target in panel.get("targets") or []:
                uid = (target.get("datasource") or panel.get("datasource") or {}).get("uid")
                sql = target.get("rawSql")
                if not sql or uid != ORDER_DB_GRAFANA_UID:
                    continue
                title = expand_grafana(panel.get("title", "?"), variables, start, end)
                out.append(Probe(f"grafana {path.stem}: {title}", expand_grafana(sql, variables, start, end),
                                 None, "grafana", None, source=path.name, setup=setup))
    return out


def _walk_plan(node: dict[str, Any], parents: tuple[dict[str, Any], ...] = ()) -> Iterator[tuple[dict, tuple]]:
    yield node, parents
    for child in node.get("Plans") or []:
        yield from _walk_plan(child, (*parents, node))


def plan_flags(plan: dict[str, Any], history_rows: int) -> list[str]:
    """Seq Scan on order_status_history, and Sorts fed by a large part of it."""
    flags: list[str] = []
    for node, _ in _walk_plan(plan["Plan"]):
        kind = node.get("Node Type")
        if kind == "Seq Scan" and node.get("Relation Name") == "order_status_history":
            flags.append("Seq Scan on order_status_history")
        if kind in ("Sort", "Incremental Sort"):
            touched = [n for n, _ in _walk_plan(node) if n.get("Relation Name") == "order_status_history"]
            rows_in = sum(c.get("Actual Rows", 0) * c.get("Actual Loops", 1) for c in node.get("Plans") or [])
            if touched and rows_in >= max(1000, history_rows // 10):
                flags.append(f"Sort of {rows_in:,} order_status_history rows")
        if kind == "Seq Scan" and node.get("Relation Name") == "orders":
            flags.append("Seq Scan on orders")
    return sorted(set(flags))


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")[:80]


def time_queries(conn: Any, repeat: int, history_rows: int, explain_dir: Path | None = None,
                 log: Callable[[str], None] = print) -> list[dict[str, Any]]:
    explain_dir = explain_dir or EXPLAIN_DIR
    explain_dir.mkdir(parents=True, exist_ok=True)
    for old in explain_dir.glob("*.txt"):
        old.unlink()
    conn.autocommit = False
    results = []
    for probe in probes(conn):
        timings = []
        error = None
        try:
            runs, k = repeat, 0
            while k <= runs:
                cur = conn.cursor()
                if probe.setup:
                    cur.execute(probe.setup)
                t0 = time.perf_counter()
                cur.execute(probe.sql, probe.params)
                if cur.description is not None:
                    cur.fetchall()
                elapsed = (time.perf_counter() - t0) * 1000
                cur.close()
                conn.rollback()
                if k:  # the first run warms the cache
                    timings.append(elapsed)
                elif elapsed > 1000:
                    runs = min(runs, 3)  # a slow query: fewer repetitions keep the suite's time bounded
                k += 1
            cur = conn.cursor()
            if probe.setup:
                cur.execute(probe.setup)
            cur.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + probe.sql, probe.params)
            plan_json = cur.fetchone()[0][0]
            conn.rollback()
            if probe.setup:
                cur.execute(probe.setup)
            cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + probe.sql, probe.params)
            plan_text = "\n".join(r[0] for r in cur.fetchall())
            conn.rollback()
            cur.close()
        except Exception as exc:  # a broken query is a finding, not a crash of the suite
            conn.rollback()
            error = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0]}"
            log(f"db_scale: {probe.name}: {error}")
            results.append({"name": probe.name, "kind": probe.kind, "source": probe.source, "error": error,
                            "target_ms": probe.target_ms})
            continue
        flags = plan_flags(plan_json, history_rows)
        jit_ms = ((plan_json.get("JIT") or {}).get("Timing") or {}).get("Total")
        if jit_ms and jit_ms >= 10:
            flags.append(f"JIT compile {jit_ms:.0f} ms")
        explain_file = explain_dir / f"{_slug(probe.name)}.txt"
        explain_file.write_text(
            f"-- {probe.name}\n-- source: {probe.source}\n-- params: {json.dumps(probe.params, default=str)}\n"
            f"-- {'rolled back (the query writes)' if probe.write else 'read only'}\n"
            f"{('-- ' + probe.setup + chr(10)) if probe.setup else ''}\n{probe.sql.strip()}\n\n"
            f"{plan_text}\n",
            encoding="utf-8",
        )
        results.append({
            "name": probe.name,
            "kind": probe.kind,
            "source": probe.source,
            "median_ms": round(statistics.median(timings), 3),
            "min_ms": round(min(timings), 3),
            "max_ms": round(max(timings), 3),
            "runs": len(timings),
            "target_ms": probe.target_ms,
            "flags": flags,
            "jit_ms": round(jit_ms, 1) if jit_ms else None,
            "explain": str(explain_file.relative_to(REPO)) if explain_file.is_relative_to(REPO) else str(explain_file),
        })
    conn.autocommit = True
    return results


# ---------------------------------------------------------------------------------------------
# The section
# ---------------------------------------------------------------------------------------------


def run(section: Section, *, orders: int, history: int, repeat: int, keep: bool = False,
        log: Callable[[str], None] = print) -> None:
    import psycopg2

    from orderflow import db
    from tools import pg

    server, _ = pg.ensure_server()
    name = f"of_bench_scale_{orders}_{os.getpid()}"  # concurrent runs (two test sessions) never share it
    pg.create_database(server, name, drop_first=True)
    url = server.url(name)
    try:
        db.upgrade(url)
        conn = psycopg2.connect(url)
        try:
            log(f"db_scale: generating {orders:,} orders / {history:,} history rows into {name} (COPY)")
            loaded = load(conn, Plan(orders, history), log)
            section.details["load"] = loaded
            c, t = loaded["counts"], loaded["timings_s"]
            section.add("orders loaded", c["orders"], "rows")
            section.add("history rows loaded", c["history"], "rows")
            section.add("load: generate + COPY + index + VACUUM ANALYZE", t["total_s"], "s",
                        note=f"waiting for the generator {t['generate_s']} s, COPY {t['copy_s']} s,"
                             f" indexes {t['index_s']} s, VACUUM ANALYZE {t['vacuum_analyze_s']} s")
            section.add("order_status_history size", loaded["sizes_mb"]["order_status_history"], "MB")
            with conn.cursor() as cur:
                settings = {}
                for setting in ("server_version", "jit", "jit_above_cost", "shared_buffers", "work_mem",
                                "random_page_cost", "effective_cache_size"):
                    cur.execute(f"SHOW {setting}")
                    settings[setting] = cur.fetchone()[0]
            section.details["server_settings"] = settings
            log("db_scale: timing queries")
            results = time_queries(conn, repeat, c["history"], log=log)
        finally:
            conn.close()
    finally:
        if not keep:
            pg.drop_database(server, name)
    section.details["queries"] = results
    section.details["database"] = name if keep else None
    flagged = []
    for r in results:
        if "error" in r:
            section.add(r["name"], None, "ms", note=f"ERROR {r['error']}")
            continue
        target = f"< {r['target_ms']:g}" if r["target_ms"] else None
        hist_flags = [f for f in r["flags"] if "order_status_history" in f]
        note = "; ".join(r["flags"])
        section.add(r["name"], r["median_ms"], "ms", target, note=note)
        if hist_flags and r["kind"] != "suggestion":
            flagged.append(r["name"])
    section.add("queries scanning/sorting all of order_status_history", len(flagged), "", "<= 0",
                note=", ".join(flagged))
    jit = [r for r in results if r.get("jit_ms") and r["jit_ms"] >= 10 and r["kind"] != "suggestion"]
    if jit:
        jit_setting = (section.details.get("server_settings") or {}).get("jit")
        section.notes.append(
            f"{len(jit)} queries paid PostgreSQL JIT compilation (jit={jit_setting}), up to "
            f"{max(r['jit_ms'] for r in jit):.0f} ms each: " + ", ".join(r["name"] for r in jit))
