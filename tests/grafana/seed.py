"""Realistic rows for the dashboards to read: orders walked through the status machine (the
trigger of migration 001 checks every step), shipments, conversations, and Airflow runs."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta

H = timedelta(hours=1)

# What the seed guarantees (asserted by the tests).
FAILED_ORDERS = {"AF-1": "acceptance_failed", "LF-1": "label_failed", "TF-1": "tracking_failed"}
NEAR_DEADLINE_2H = {"P-RISK", "LC-RISK"}  # within 2 hours of the accept / ship deadline
OVERDUE_THREAD = "thread-overdue"
WAITING_THREAD = "thread-fresh"
UNTRANSMITTED_GROUP = "20990102-1"  # a Canada Post group past its cut-off, not transmitted
AIRFLOW_TEST_DAG = "orderflow_core_grafana_test"
# A live claim left by a shipping try stopped from outside (and an expired one, not held any more).
HELD_BY = "orderflow_core/scheduled__stopped/shipping.buy_labels"
AIRFLOW_TASKS = ["ingest.fetch_orders", "acceptance.accept_orders", "shipping.buy_labels",
                 "tracking.confirm_shipping", "messaging.sync_threads"]


def add_order(cur, order_id: str, created: datetime, path: list[tuple[str, datetime, dict]], *,
              acceptance_deadline: datetime | None = None, shipping_deadline: datetime | None = None,
              customer_id: str | None = None) -> None:
    cur.execute(
        """INSERT INTO orders (order_id, commercial_id, mirakl_state, created_date, acceptance_deadline,
                               shipping_deadline, customer_id, total_price, raw)
           VALUES (%s, %s, 'WAITING_ACCEPTANCE', %s, %s, %s, %s, 99.99, %s)""",
        (order_id, order_id.split("-")[0], created, acceptance_deadline, shipping_deadline, customer_id,
         json.dumps({"order_id": order_id})),
    )
    for status, at, detail in path:
        cur.execute(
            """INSERT INTO order_status_history (order_id, status, created_at, run_id, actor, detail)
               VALUES (%s, %s, %s, %s, %s, %s)""",
            (order_id, status, at, "scheduled__seed", "seed", json.dumps(detail)),
        )


def add_shipment(cur, order_id: str, at: datetime, price: str, status: str = "label_stored") -> None:
    cur.execute(
        """INSERT INTO shipments (order_id, customer_request_id, status, price, created_at, updated_at)
           VALUES (%s, %s, %s, %s, %s, %s)""",
        (order_id, f"{order_id}-1", status, price, at, at),
    )


def seed_orders(cur, now: datetime) -> None:
    # Shipped orders spread over the last week: received -> accepted (1 h) -> label (3 h) ->
    # [packed] -> shipped (20 h). Every step lands inside the dashboards' default 7-day window.
    for k in range(8):
        created = now - timedelta(hours=30 + 12 * k)
        accepted, label, shipped = created + H, created + 4 * H, created + 24 * H
        path = [("pending_acceptance", created, {}), ("accepted", accepted, {}), ("label_created", label, {})]
        if k % 3 == 0:
            path.append(("packed", label + 2 * H, {"packer": "pat"}))
        path.append(("shipped", shipped, {"pin": f"7023{k:012d}"}))
        add_order(cur, f"S{k}-A", created, path, customer_id="cust-1")
        add_shipment(cur, f"S{k}-A", label, f"{12 + k}.50")
    # A voided second label: refunded, so it is not spend.
    cur.execute(
        """INSERT INTO shipments (order_id, package_no, customer_request_id, status, price, created_at)
           VALUES ('S0-A', 2, 'S0-A-2', 'voided', 99.00, %s)""",
        (now - 2 * H,),
    )

    # End of day: yesterday's group transmitted (a manifest of 2 parcels), one past its cut-off and
    # still open (the alert), today's open; a label refunded after its manifest.
    for seq, (group, status, cutoff) in enumerate((("20990101-1", "transmitted", now - 20 * H),
                                                   (UNTRANSMITTED_GROUP, "open", now - 2 * H),
                                                   ("20990103-1", "open", now + 3 * H)), start=1):
        cur.execute("""INSERT INTO shipping_groups (group_id, mailing_date, seq, status, cutoff_at)
                       VALUES (%s, %s, %s, %s, %s)""", (group, cutoff.date(), seq, status, cutoff))
    cur.execute("""INSERT INTO manifests (manifest_id, group_id, po_number, shipment_count, status, found_by,
                                          created_at)
                   VALUES ('270000000000000001', '20990101-1', 'P000000001', 2, 'stored', 'transmit answer', %s)""",
                (now - 20 * H,))
    cur.execute(
        """INSERT INTO shipments (order_id, package_no, customer_request_id, status, price, created_at,
                                  refund_requested_at, group_id)
           VALUES ('S1-A', 2, 'S1-A-2', 'refund_requested', 14.00, %s, %s, '20990101-1')""",
        (now - 30 * H, now - 3 * H),
    )

    # Waiting for acceptance: one an hour from its 24 h deadline, one fresh.
    add_order(cur, "P-RISK", now - 23 * H, [("pending_acceptance", now - 23 * H, {})])
    add_order(cur, "P-FRESH", now - H, [("pending_acceptance", now - H, {})])
    # A label bought, Best Buy's ship-by deadline in one hour.
    created = now - 40 * H
    add_order(cur, "LC-RISK", created, [("pending_acceptance", created, {}), ("accepted", created + H, {}),
                                        ("label_created", created + 2 * H, {})],
              shipping_deadline=now + H)
    add_shipment(cur, "LC-RISK", created + 2 * H, "15.25")
    # Accepted, plenty of time left.
    add_order(cur, "ACC-OK", now - 3 * H, [("pending_acceptance", now - 3 * H, {}), ("accepted", now - 2 * H, {})],
              shipping_deadline=now + 72 * H)

    # Failures, each with the reason and API code the steps record.
    created = now - 10 * H
    add_order(cur, "AF-1", created, [("pending_acceptance", created, {}),
                                     ("acceptance_failed", created + H, {"reason": "OR21 refused", "code": "400"})])
    add_order(cur, "LF-1", created, [("pending_acceptance", created, {}), ("accepted", created + H, {}),
                                     ("label_failed", created + 2 * H,
                                      {"reason": "address rejected by Canada Post", "code": "9111"})],
              shipping_deadline=now + 30 * H)
    add_order(cur, "TF-1", created, [("pending_acceptance", created, {}), ("accepted", created + H, {}),
                                     ("label_created", created + 2 * H, {}),
                                     ("tracking_failed", created + 3 * H, {"reason": "OR23 refused", "code": "400"})],
              shipping_deadline=now + 30 * H)
    add_shipment(cur, "TF-1", created + 2 * H, "11.00")
    # A retried failure: label_failed -> accepted -> label_created (history keeps the failure).
    add_order(cur, "LF-RETRIED", created, [("pending_acceptance", created, {}), ("accepted", created + H, {}),
                                           ("label_failed", created + 2 * H,
                                            {"reason": "address rejected by Canada Post", "code": "9111"}),
                                           ("accepted", created + 3 * H, {"retried_by": "admin"}),
                                           ("label_created", created + 4 * H, {})],
              shipping_deadline=now + 30 * H)
    # Closed without shipping.
    add_order(cur, "CX-1", now - 50 * H, [("pending_acceptance", now - 50 * H, {}), ("canceled", now - 49 * H, {})])
    add_order(cur, "RF-1", now - 50 * H, [("refused", now - 50 * H, {})])

    # Claims: ACC-OK held for 30 minutes by a stopped try; LC-RISK's claim expired a minute ago.
    for order_id, since, expires in (("ACC-OK", now - H / 2, now + H / 3), ("LC-RISK", now - H, now - H / 60)):
        cur.execute(
            """INSERT INTO order_claims (order_id, step, claimed_by, claimed_at, expires_at,
                                         dag_id, run_id, task_id, map_index, try_number)
               VALUES (%s, 'shipping', %s, %s, %s, 'orderflow_core', 'scheduled__stopped', 'shipping.buy_labels',
                       -1, 1)""",
            (order_id, HELD_BY, since, expires),
        )


def _message(cur, conversation_id: int, sender: str, at: datetime, *, auto: bool = False,
             reply_to: int | None = None, body: str = "hello") -> int:
    cur.execute(
        """INSERT INTO messages (conversation_id, sender_type, sender_name, body, sent_at, is_auto_reply,
                                 in_reply_to)
           VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING message_id""",
        (conversation_id, sender, sender.lower(), body, at, auto, reply_to),
    )
    return cur.fetchone()[0]


def _conversation(cur, thread: str, order_id: str, reply_needed_since: datetime | None, last: datetime) -> int:
    cur.execute(
        """INSERT INTO conversations (mirakl_thread_id, order_id, customer_id, topic, last_message_at,
                                      reply_needed_since)
           VALUES (%s, %s, 'cust-1', 'Where is my order?', %s, %s) RETURNING conversation_id""",
        (thread, order_id, last, reply_needed_since),
    )
    return cur.fetchone()[0]


def seed_messages(cur, now: datetime) -> None:
    cur.execute("INSERT INTO customers (customer_id, firstname, lastname, display_name) "
                "VALUES ('cust-1', 'Ada', 'Tremblay', 'Ada T.')")
    # Waiting five days: past the one-business-day target whatever today is.
    asked = now - timedelta(days=5)
    conv = _conversation(cur, OVERDUE_THREAD, "S1-A", asked, asked)
    _message(cur, conv, "CUSTOMER", asked)
    # An agent's reply whose M12 answer was lost half an hour ago: in doubt, not confirmed sent.
    doubt = now - timedelta(minutes=30)
    cur.execute("""INSERT INTO agent_replies (reply_key, conversation_id, agent, body, status, attempts,
                                              last_attempt_at, created_at, updated_at)
                   VALUES ('k-unknown-00000001', %s, 'agent1', 'Your parcel left today', 'unknown', 1, %s, %s, %s)""",
                (conv, doubt, doubt, doubt))
    # Waiting ten minutes, auto-acknowledged a minute later.
    asked = now - timedelta(minutes=10)
    conv = _conversation(cur, WAITING_THREAD, "P-FRESH", asked, asked + timedelta(minutes=1))
    question = _message(cur, conv, "CUSTOMER", asked)
    _message(cur, conv, "SHOP", asked + timedelta(minutes=1), auto=True, reply_to=question)
    # Answered threads: auto-reply after 1 minute, a person after 2 to 5 hours.
    for k in range(4):
        asked = now - timedelta(days=1 + k, hours=3)
        conv = _conversation(cur, f"thread-answered-{k}", f"S{k}-A", None, asked + (2 + k) * H)
        question = _message(cur, conv, "CUSTOMER", asked)
        _message(cur, conv, "SHOP", asked + timedelta(minutes=1), auto=True, reply_to=question)
        _message(cur, conv, "SHOP", asked + (2 + k) * H, reply_to=question, body="Your order shipped")
    _message(cur, conv, "OPERATOR", now - 2 * H, body="Best Buy operator note")


def seed_airflow(cur, now: datetime, dag_id: str = AIRFLOW_TEST_DAG) -> None:
    """Six runs of a DAG over the last day: four successes (one with a retried task), one failure
    (a task failed after retries), one still running."""
    states = ["success", "success", "failed", "success", "success", "running"]
    for k, state in enumerate(states):
        due = now - timedelta(hours=3 * (len(states) - k))
        run_id = f"scheduled__{due.isoformat()}"
        start = due + timedelta(seconds=8)
        end = None if state == "running" else start + timedelta(seconds=60 + 10 * k)
        cur.execute(
            """INSERT INTO dag_run (dag_id, run_id, run_type, run_after, logical_date, queued_at, start_date,
                                    end_date, state, clear_number, span_status)
               VALUES (%s, %s, 'scheduled', %s, %s, %s, %s, %s, %s, 0, 'not_started')""",
            (dag_id, run_id, due, due, due + timedelta(seconds=2), start, end, state),
        )
        for n, task_id in enumerate(AIRFLOW_TASKS):
            queued = start + timedelta(seconds=5 * n)
            t_start = queued + timedelta(seconds=1 + n + k)
            t_end = t_start + timedelta(seconds=4 + n)
            t_state, tries = "success", 1
            if state == "failed" and task_id == "shipping.buy_labels":
                t_state, tries = "failed", 3
            elif k == 1 and task_id == "tracking.confirm_shipping":
                tries = 2
            elif state == "running" and n >= 3:
                t_state, t_start, t_end = "queued", None, None
            cur.execute(
                """INSERT INTO task_instance (id, task_id, dag_id, run_id, map_index, try_number, max_tries, pool,
                                              pool_slots, state, queued_dttm, start_date, end_date, duration,
                                              span_status)
                   VALUES (%s, %s, %s, %s, -1, %s, 3, 'default_pool', 1, %s, %s, %s, %s, %s, 'not_started')""",
                (str(uuid.uuid4()), task_id, dag_id, run_id, tries, t_state, queued, t_start, t_end,
                 None if t_end is None else (t_end - t_start).total_seconds()),
            )
            for earlier in range(1, tries):
                cur.execute(
                    """INSERT INTO task_instance_history (task_instance_id, task_id, dag_id, run_id, map_index,
                                                          try_number, max_tries, pool, pool_slots, state,
                                                          queued_dttm, start_date, end_date, duration, span_status)
                       VALUES (%s, %s, %s, %s, -1, %s, 3, 'default_pool', 1, 'failed', %s, %s, %s, 2.0,
                               'not_started')""",
                    (str(uuid.uuid4()), task_id, dag_id, run_id, earlier, queued, queued,
                     queued + timedelta(seconds=2)),
                )


def add_dag_run(cur, dag_id: str, run_after: datetime, state: str) -> None:
    cur.execute(
        """INSERT INTO dag_run (dag_id, run_id, run_type, run_after, logical_date, start_date, end_date, state,
                                clear_number, span_status)
           VALUES (%s, %s, 'manual', %s, %s, %s, %s, %s, 0, 'not_started')""",
        (dag_id, f"manual__{run_after.isoformat()}", run_after, run_after, run_after, run_after + H, state),
    )


# After the sale (issue 13): what the after-sale panels and alerts must show.
INCIDENTS_OVER_2D = {"S3-A-1"}
RETURNS_NOT_REFUNDED = {"RET-LATE"}


def seed_aftersale(cur, now: datetime) -> None:
    # Refunds and returns of shipped orders, a seller cancelation, each on a day of the window.
    def walk(order_id: str, *steps: tuple[str, datetime]) -> None:
        for status, at in steps:
            cur.execute(
                """INSERT INTO order_status_history (order_id, status, created_at, run_id, actor, detail)
                   VALUES (%s, %s, %s, 'manual__seed', 'agent', '{}')""",
                (order_id, status, at),
            )

    walk("S1-A", ("partially_refunded", now - 20 * H))
    walk("S2-A", ("returned", now - 30 * H), ("refunded", now - 29 * H))
    walk("S4-A", ("returned", now - 60 * H))
    created = now - 10 * H
    add_order(cur, "CBS-1", created, [("pending_acceptance", created, {}), ("accepted", created + H, {}),
                                      ("canceled_by_seller", created + 2 * H, {"reason_code": "OUT_OF_STOCK"})])
    # A partial seller cancelation of S5-A (the order keeps its status): 1 unit of line 2, by a packer.
    cur.execute(
        """INSERT INTO order_events (order_id, kind, actor, detail, created_at)
           VALUES ('S5-A', 'lines_canceled', 'packer1', %s, %s)""",
        (json.dumps({"reason_code": "DAMAGED", "reason_label": "Item damaged",
                     "lines": [{"order_line_id": "S5-A-2", "quantity": 1}]}), now - 5 * H),
    )
    # Open incidents: one opened 3 days ago (alert), one an hour ago.
    for line_id, order_id, opened in (("S3-A-1", "S3-A", now - 72 * H), ("S5-A-1", "S5-A", now - H)):
        cur.execute(
            """INSERT INTO order_lines (order_line_id, order_id, line_index, quantity, price, state, raw)
               VALUES (%s, %s, 1, 1, 99.99, 'INCIDENT_OPEN', %s)""",
            (line_id, order_id, json.dumps({"order_line_state_reason_label": "Item not received",
                                            "last_updated_date": opened.isoformat()})),
        )
    # Returns: a mail-in one received 5 days ago and not refunded (alert), one refunded, one in store.
    for return_id, order_id, method, received in (("RET-LATE", "S4-A", "RETURN_METHOD_BY_MAIL", now - 120 * H),
                                                   ("RET-DONE", "S2-A", "RETURN_METHOD_BY_MAIL", now - 30 * H),
                                                   ("RET-STORE", "S6-A", "RETURN_METHOD_IN_STORE", now - 30 * H)):
        cur.execute(
            """INSERT INTO returns (return_id, order_id, state, method_code, rma, raw, received_at, received_by)
               VALUES (%s, %s, 'RECEIVED', %s, %s, '{}', %s, 'riley')""",
            (return_id, order_id, method, f"RMA-{return_id}", received),
        )
    cur.execute(
        """INSERT INTO money_intents (intent_id, kind, order_id, order_line_id, purpose, amount, reason_code,
                                      status, return_id, mirakl_id)
           VALUES ('S2-A-1:return:RET-DONE', 'refund', 'S2-A', 'S2-A-1', 'return:RET-DONE', 99.99,
                   'ITEM_RETURNED', 'done', 'RET-DONE', 'refund-1')"""
    )
