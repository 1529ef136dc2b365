"""Edges of who-is-asking and CSRF (issue 16 items 7 and 9): non-ASCII tokens, Airflow's public role,
and a CSRF key of orderflow's own."""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Any

import pytest

from sandbox.catalog import PRODUCTS_BY_SKU


def _token_of(html: str) -> str:
    return re.search(r'(?:data-csrf|name="csrf_token" value)="([^"]+)"', html).group(1)


def _scan_count(views_sql: Any, order_id: str) -> int:
    with views_sql.cursor() as cur:
        cur.execute("SELECT count(*) FROM pack_scans WHERE order_id = %s", (order_id,))
        return cur.fetchone()[0]


# -- item 7: a non-ASCII token is a refusal, not a crash ------------------------------------------
def test_a_non_ascii_csrf_token_is_refused_with_403(client_for, make_order, make_conversation, views_sql):
    order_id = make_order([("AUD-NCH-700", 1)])
    barcode = PRODUCTS_BY_SKU["AUD-NCH-700"]["components"][0]["barcode"]
    packer = client_for("packer")
    token = _token_of(packer.get(f"/orderflow/packing/orders/{order_id}").text)
    issued, nonce, _ = token.split(".")
    url = f"/orderflow/packing/orders/{order_id}/scans"
    body = {"scans": [{"id": "s1", "code": barcode}]}
    # Header bytes arrive as Latin-1 text; a signature of non-ASCII characters used to crash compare_digest.
    for bad in (f"{issued}.{nonce}.{'é' * 64}".encode(), f"{issued}.{'ü' * 16}.{'0' * 64}".encode(),
                "١٧٠٠٠٠٠٠٠٠.x.y".encode()):
        resp = packer.post(url, json=body, headers={"X-CSRF-Token": bad, "Accept": "application/json"})
        assert resp.status_code == 403, (bad, resp.status_code, resp.text[:300])
    assert _scan_count(views_sql, order_id) == 0

    # The same through a form field (the inbox reply): any Unicode can be posted there.
    conversation_id = make_conversation(["Hello?"])
    agent = client_for("agent")
    agent_token = _token_of(agent.get(f"/orderflow/inbox/conversations/{conversation_id}").text)
    issued, nonce, _ = agent_token.split(".")
    resp = agent.post(f"/orderflow/inbox/conversations/{conversation_id}/reply",
                      data={"body": "Hello there", "csrf_token": f"{issued}.{nonce}.{'☃' * 64}"})
    assert resp.status_code == 403 and "expired" in resp.text


def test_csrf_check_never_raises_on_odd_input():
    from orderflow.views.security import StaffUser, csrf_token_valid, issue_csrf_token

    user = StaffUser(user=None, username="u", display_name="U", user_id="42")
    issued, nonce, signature = issue_csrf_token(user).split(".")
    for token in (f"{issued}.{nonce}.{signature[:-1]}é", f"{issued}.ñ.{signature}", "١٢٣.a.b",
                  f"{issued}.{nonce}.{signature}\x00", "." * 2, "x" * 100_000 + "..", f"{issued}..{signature}"):
        assert csrf_token_valid(user, token) is False, token


# -- item 7: Airflow's public role never makes a staff user ----------------------------------------
@pytest.fixture
def public_role_app(airflow_app, staff_users, views_store, monkeypatch):
    """Our pages behind FAB's public-access middleware, with `[fab] auth_role_public = Packer`: every
    visitor without a token gets an AnonymousUser holding the Packer role's permissions."""
    from airflow.providers.fab.auth_manager.middleware import FabAuthRolePublicMiddleware

    from orderflow.views import common
    from orderflow.views.app import create_app

    monkeypatch.setenv("AIRFLOW__FAB__AUTH_ROLE_PUBLIC", "Packer")
    app = create_app()
    app.dependency_overrides[common.get_store] = lambda: views_store
    app.add_middleware(FabAuthRolePublicMiddleware)
    return app


def test_an_anonymous_public_role_visitor_is_never_a_staff_user(public_role_app, make_order, views_sql):
    from airflow.api_fastapi.app import get_auth_manager
    from fastapi.testclient import TestClient

    public = get_auth_manager().build_public_user()
    assert public is not None and ("can_read", "Packing Station") in public.perms  # the setup is real
    order_id = make_order([("AUD-NCH-700", 1)])
    client = TestClient(public_role_app, follow_redirects=False)
    for path in ("/packing/", f"/packing/orders/{order_id}", "/static/packing.js"):
        resp = client.get(path)
        assert resp.status_code == 303, (path, resp.status_code)
        assert "/auth/login/" in resp.headers["location"]
    resp = client.post(f"/packing/orders/{order_id}/scans", json={"scans": [{"id": "1", "code": "x"}]},
                       headers={"Accept": "application/json"})
    assert resp.status_code == 401
    assert _scan_count(views_sql, order_id) == 0


# -- item 9: the CSRF key is orderflow's own -------------------------------------------------------
def test_a_token_signed_with_airflows_own_secret_key_is_refused(monkeypatch):
    from airflow.configuration import conf

    from orderflow.views.security import StaffUser, csrf_token_valid, issue_csrf_token

    user = StaffUser(user=None, username="u", display_name="U", user_id="42")
    issued, nonce = "1700000000", "nonce-123"
    api_key = conf.get("api", "secret_key").encode()
    msg = f"orderflow-csrf|{user.user_id}|{issued}|{nonce}".encode()
    with_airflows_key = hmac.new(api_key, msg, hashlib.sha256).hexdigest()
    assert not csrf_token_valid(user, f"{issued}.{nonce}.{with_airflows_key}", now=int(issued) + 5)

    # A separate key, when configured, is the one that signs; tokens of the old key stop working.
    token = issue_csrf_token(user)
    assert csrf_token_valid(user, token)
    monkeypatch.setenv("ORDERFLOW_CSRF_SECRET", "a-separate-orderflow-csrf-key-0123456789")
    assert not csrf_token_valid(user, token)
    assert csrf_token_valid(user, issue_csrf_token(user))


# -- item 10: request bodies are capped before anything reads them --------------------------------
def test_oversized_bodies_are_refused_with_413_before_parsing(client_for, make_order, views_sql):
    from orderflow.views.app import MAX_BODY_BYTES

    order_id = make_order([("AUD-NCH-700", 1)])
    packer = client_for("packer")
    token = _token_of(packer.get(f"/orderflow/packing/orders/{order_id}").text)
    url = f"/orderflow/packing/orders/{order_id}/scans"
    headers = {"X-CSRF-Token": token, "Accept": "application/json", "Content-Type": "application/json"}
    big = b'{"scans": [' + b'{"id": "x", "code": "1"},' * (MAX_BODY_BYTES // 20) + b'{"id": "y", "code": "1"}]}'
    assert len(big) > MAX_BODY_BYTES
    resp = packer.post(url, content=big, headers=headers)
    assert resp.status_code == 413, resp.status_code

    def chunks():  # no Content-Length: the cap counts what arrives
        for i in range(0, len(big), 65536):
            yield big[i:i + 65536]

    resp = packer.post(url, content=chunks(), headers=headers)
    assert resp.status_code == 413, resp.status_code
    assert _scan_count(views_sql, order_id) == 0
    # A normal batch still goes through.
    barcode = PRODUCTS_BY_SKU["AUD-NCH-700"]["components"][0]["barcode"]
    ok = packer.post(url, json={"scans": [{"id": "s1", "code": barcode}]}, headers=headers)
    assert ok.status_code == 200, ok.text
