"""Fixtures of the staff pages' tests: an order DB of their own, FAB roles and users, the whole
Airflow API app (with our plugin mounted by Airflow's plugin manager) and data builders."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg2
import pytest

from tools import pg

PASSWORD = "orderflow-test-pw-1"
# username -> (roles, first name, last name)
STAFF: dict[str, tuple[list[str], str, str]] = {
    "packer": (["Packer"], "Pat", "Packer"),
    "supervisor": (["Packer", "Pack Supervisor"], "Sam", "Supervisor"),
    "agent": (["Agent"], "Alex", "Agent"),
    "receiver": (["Receiver"], "Riley", "Receiver"),
    "outsider": (["Outsider"], "Olly", "Outsider"),
}


@pytest.fixture(scope="session")
def views_db_url(pg_server: pg.Server) -> Iterator[str]:
    """An orderflow DB of these tests' own: what they insert never meets other tests' counts."""
    from orderflow import db

    name = f"of_v{os.getpid()}_{os.urandom(2).hex()}"
    pg.create_database(pg_server, name, drop_first=True)
    url = pg_server.url(name)
    db.upgrade(url)
    yield url
    try:
        pg.drop_database(pg_server, name)
    except Exception as exc:  # a leftover DB must not fail the run
        print(f"could not drop {name}: {exc}")


@pytest.fixture(scope="session")
def views_store(views_db_url: str):
    from orderflow.setup import seed_catalog
    from orderflow.store import OrderStore
    from sandbox.catalog import PRODUCTS

    store = OrderStore(views_db_url)
    assert seed_catalog(PRODUCTS, store) > 0
    yield store
    store.close()


@pytest.fixture
def views_sql(views_db_url: str) -> Iterator[Any]:
    conn = psycopg2.connect(views_db_url)
    conn.autocommit = True
    yield conn
    conn.close()


@pytest.fixture(scope="session")
def staff_users(airflow_db: str) -> dict[str, tuple[list[str], str, str]]:
    """Our roles (the setup command's code) and one user per kind of staff member."""
    from orderflow import setup

    with setup._application_builder() as appbuilder:
        sm = appbuilder.sm
        setup.sync_roles(sm)
        # A logged-in Airflow user with none of our permissions (only the UI home page).
        outsider = sm.add_role("Outsider")
        sm.add_permission_to_role(outsider, sm.create_permission("can_read", "Website"))
        for username, (roles, first, last) in STAFF.items():
            setup.ensure_user_on(sm, username, roles, PASSWORD, first_name=first, last_name=last)
    return STAFF


@pytest.fixture(scope="session")
def airflow_app(staff_users, views_store):
    """Airflow's whole API app, the way `airflow api-server` builds it, our store swapped in."""
    from airflow.api_fastapi.app import create_app, purge_cached_app

    from orderflow.views import common
    from orderflow.views.app import app as staff_app

    app = create_app()
    staff_app.get().dependency_overrides[common.get_store] = lambda: views_store
    yield app
    staff_app.get().dependency_overrides.clear()
    purge_cached_app()
    # Let go of the metadata DB before the session drops it (else Airflow's atexit hook complains).
    from airflow import settings as airflow_settings

    if airflow_settings.Session is not None:
        airflow_settings.Session.remove()
    if airflow_settings.engine is not None:
        airflow_settings.engine.dispose()


@pytest.fixture(scope="session")
def tokens(airflow_app) -> dict[str, str]:
    """A JWT per user, from FAB's own login endpoint (what its login page sets as `_token`)."""
    from fastapi.testclient import TestClient

    client = TestClient(airflow_app)
    result = {}
    for username in STAFF:
        resp = client.post("/auth/token", json={"username": username, "password": PASSWORD})
        assert resp.status_code in (200, 201), resp.text
        result[username] = resp.json()["access_token"]
    return result


@pytest.fixture
def client_for(airflow_app, tokens) -> Callable[[str | None], Any]:
    """A test client logged in as `username` (cookie `_token`), or anonymous for None."""
    from fastapi.testclient import TestClient

    def make(username: str | None):
        cookies = {"_token": tokens[username]} if username else None
        return TestClient(airflow_app, cookies=cookies, follow_redirects=False)

    return make


# -- data builders -------------------------------------------------------------------------------
def _minimal_pdf(text: str) -> bytes:
    from io import BytesIO

    from reportlab.lib.pagesizes import landscape
    from reportlab.pdfgen import canvas

    buf = BytesIO()
    c = canvas.Canvas(buf, pagesize=landscape((288, 432)))
    c.setFont("Helvetica-Bold", 22)
    c.drawString(30, 220, "CANADA POST (test label)")
    c.setFont("Helvetica", 18)
    c.drawString(30, 180, text)
    c.showPage()
    c.save()
    return buf.getvalue()


@pytest.fixture
def make_order(views_store) -> Callable[..., str]:
    """Insert an order with `lines` [(sku, qty)] and walk it to `status` (label + PDF if bought)."""
    from orderflow.hooks.mirakl_records import order_from_payload
    from orderflow.views.common import settings

    def make(
        lines: Sequence[tuple[str, int]],
        *,
        status: str = "label_created",
        order_id: str | None = None,
        deadline_in: timedelta = timedelta(hours=30),
        firstname: str = "Jordan",
        lastname: str = "Tremblay",
        city: str = "Ottawa",
    ) -> str:
        order_id = order_id or f"T{os.urandom(4).hex().upper()}-A"
        now = datetime.now(UTC)
        payload = {
            "order_id": order_id,
            "commercial_id": f"C{order_id}",
            "order_state": "SHIPPING",
            "created_date": (now - timedelta(hours=2)).isoformat(),
            "shipping_deadline": (now + deadline_in).isoformat(),
            "customer": {
                "customer_id": f"cust-{order_id}",
                "firstname": firstname,
                "lastname": lastname,
                "shipping_address": {
                    "street_1": "123 Secret Street",
                    "city": city,
                    "state": "ON",
                    "zip_code": "K1A 0B1",
                    "country_iso_code": "CA",
                },
            },
            "order_lines": [
                {"order_line_id": f"{order_id}-{i}", "order_line_index": i, "offer_sku": sku,
                 "product_title": f"Product {sku}", "quantity": qty, "price": 10}
                for i, (sku, qty) in enumerate(lines, start=1)
            ],
            "price": 10,
            "total_price": 10,
        }
        views_store.upsert_orders([order_from_payload(payload)])
        views_store.record_transition(order_id, "accepted", actor="test")
        if status in ("label_created", "packed"):
            request_id = f"{order_id}-1"
            views_store.create_shipment_intent(order_id=order_id, package_no=1, customer_request_id=request_id)
            pin = "7" + str(int.from_bytes(os.urandom(6), "big")).zfill(15)[:15]
            views_store.mark_shipment_created(
                request_id, shipment_id=f"S{pin}", tracking_pin=pin, links={}, price=12.5
            )
            label_dir = Path(settings().resolved_label_dir)
            label_dir.mkdir(parents=True, exist_ok=True)
            path = label_dir / f"{order_id}-1.pdf"
            pdf = _minimal_pdf(f"PIN {pin}  order {order_id}")
            path.write_bytes(pdf)
            views_store.mark_label_stored(
                request_id, label_path=str(path), label_sha256=hashlib.sha256(pdf).hexdigest(),
                label_content_type="application/pdf",
            )
            views_store.record_transition(order_id, "label_created", actor="test")
        if status == "packed":
            views_store.record_transition(order_id, "packed", actor="test")
        return order_id

    return make


@pytest.fixture
def make_conversation(views_sql) -> Callable[..., int]:
    """A conversation with customer messages, waiting for a reply since `waiting_for` ago."""

    def make(
        bodies: Sequence[str],
        *,
        order_id: str | None = None,
        customer_name: str = "Jordan Tremblay",
        waiting_for: timedelta | None = timedelta(hours=3),
        thread_id: str | None = None,
        customer_id: str | None = None,
        auto_reply: str | None = None,
    ) -> int:
        thread_id = thread_id or f"thread-{os.urandom(6).hex()}"
        customer_id = customer_id or f"cust-{os.urandom(4).hex()}"
        now = datetime.now(UTC)
        since = now - waiting_for if waiting_for is not None else None
        with views_sql.cursor() as cur:
            first, _, last = customer_name.partition(" ")
            cur.execute(
                "INSERT INTO customers (customer_id, firstname, lastname, display_name) VALUES (%s, %s, %s, %s)"
                " ON CONFLICT (customer_id) DO NOTHING",
                (customer_id, first, last, customer_name),
            )
            cur.execute(
                "INSERT INTO conversations (mirakl_thread_id, order_id, customer_id, topic, last_message_at,"
                " last_sender_type, reply_needed_since, human_reply_needed_since)"
                " VALUES (%s, %s, %s, %s, %s, 'CUSTOMER', %s, %s) RETURNING conversation_id",
                (thread_id, order_id, customer_id, "Question about my order", now, since, since),
            )
            conversation_id = cur.fetchone()[0]
            for i, body in enumerate(bodies):
                sent = (since or now - timedelta(hours=1)) + timedelta(minutes=i)
                cur.execute(
                    "INSERT INTO messages (mirakl_message_id, conversation_id, sender_type, sender_name, body,"
                    " sent_at) VALUES (%s, %s, 'CUSTOMER', %s, %s, %s)",
                    (f"m-{os.urandom(6).hex()}", conversation_id, customer_name, body, sent),
                )
            if auto_reply:
                cur.execute(
                    "INSERT INTO messages (mirakl_message_id, conversation_id, sender_type, sender_name, body,"
                    " sent_at, is_auto_reply, sent_by) VALUES (%s, %s, 'SHOP', 'shop', %s, %s, true, 'auto-reply')",
                    (f"m-{os.urandom(6).hex()}", conversation_id, auto_reply, now - timedelta(minutes=5)),
                )
        return conversation_id

    return make


@pytest.fixture(scope="session")
def sandbox():
    """The Mirakl (and Canada Post) sandbox servers, on ephemeral ports, for the whole session."""
    from sandbox.testing import running_sandbox

    with running_sandbox(orders=2, seed=6) as sb:
        yield sb


@pytest.fixture
def mirakl_env(sandbox, monkeypatch) -> Any:
    """Point the `mirakl_default` connection at the sandbox (the inbox's hook reads it per request)."""
    for conn_id, value in sandbox.airflow_conn_uris().items():
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", value)
    return sandbox


def sync_sandbox_thread(store: Any, sandbox: Any, thread_id: str) -> int:
    """Bring one sandbox thread (and its order) into the order DB the way the messaging sync does:
    M10 through the real hook, the messaging store's own parser and upsert."""
    from orderflow.hooks.mirakl import MiraklHook
    from orderflow.hooks.mirakl_records import order_from_payload, thread_from_payload

    hook = MiraklHook()
    try:
        record = thread_from_payload(hook.get_thread(thread_id))
        if record.order_id and store.get_order(record.order_id) is None:
            store.upsert_orders([order_from_payload(p) for p in hook.list_orders(order_ids=[record.order_id])])
            store.record_transition(record.order_id, "accepted", actor="test")
    finally:
        hook.close()
    counts = store.upsert_threads([record])
    return counts.conversation_ids[thread_id]
