"""Who may open what: every route of the staff pages, anonymous / wrong role / right role, CSRF,
the roles the setup command creates, and the plugin as Airflow loads it."""

from __future__ import annotations

import re
import subprocess
import sys
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.views.conftest import PASSWORD

# Sample values for path parameters, so every registered route can be called.
SAMPLE = {"order_id": "NO-SUCH-ORDER", "shipment_id": "1", "conversation_id": "1", "name": "orderflow.css",
          "manifest_row_id": "999999", "return_id": "NO-SUCH-RETURN", "line_id": "NO-SUCH-LINE"}


def staff_routes() -> list[tuple[str, str]]:
    """(method, path) of every route our app registers, path parameters filled in."""
    from fastapi.routing import APIRoute

    from orderflow.views.app import app

    routes = []
    for route in app.get().routes:
        if not isinstance(route, APIRoute):
            continue
        path = "/orderflow" + re.sub(r"\{(\w+)\}", lambda m: SAMPLE[m.group(1)], route.path)
        for method in route.methods:
            routes.append((method, path))
    return sorted(routes)


def resource_of(path: str) -> str:
    if path.startswith("/orderflow/packing"):
        return "packing"
    if path.startswith("/orderflow/inbox"):
        return "inbox"
    if path.startswith("/orderflow/aftersale"):
        if path.endswith("/incident"):
            return "inbox"  # incidents are customer service's
        return "refund" if "/refund" in path else "cancel"
    if path.startswith("/orderflow/returns"):
        return "returns"
    if path.startswith("/orderflow/close-day"):
        return "close-day"
    return "static"


def test_the_app_has_the_routes_we_test(airflow_app):
    routes = staff_routes()
    # If a route is added, these tests cover it automatically; this guards the discovery itself.
    assert ("GET", "/orderflow/packing/") in routes
    assert ("POST", "/orderflow/packing/orders/NO-SUCH-ORDER/scans") in routes
    assert ("POST", "/orderflow/inbox/conversations/1/reply") in routes
    assert ("GET", "/orderflow/static/orderflow.css") in routes
    assert ("POST", "/orderflow/close-day/close") in routes
    assert len(routes) >= 10


def test_anonymous_is_sent_to_the_login_page_on_every_route(client_for):
    client = client_for(None)
    for method, path in staff_routes():
        resp = client.request(method, path)
        assert resp.status_code == 303, (method, path, resp.status_code)
        location = urlsplit(resp.headers["location"])
        assert location.path == "/auth/login/", (method, path)
        next_url = parse_qs(location.query)["next"][0]
        # Back to the page after logging in; a POST's page is its parent path.
        assert next_url.startswith("/orderflow/") and path.startswith(next_url.split("?")[0]), (path, next_url)


def test_anonymous_script_calls_get_401_with_the_login_url(client_for):
    resp = client_for(None).post(
        "/orderflow/packing/orders/X/scans", json={"scans": [{"id": "1", "code": "1"}]},
        headers={"Accept": "application/json"},
    )
    assert resp.status_code == 401
    assert resp.json()["login_url"].startswith("/auth/login/?next=")


def test_an_invalid_token_is_treated_as_logged_out(airflow_app):
    from fastapi.testclient import TestClient

    client = TestClient(airflow_app, cookies={"_token": "not-a-jwt"}, follow_redirects=False)
    resp = client.get("/orderflow/packing/")
    assert resp.status_code == 303
    assert resp.headers["location"].startswith("/auth/login/")


@pytest.mark.parametrize(
    ("username", "allowed"),
    [
        ("packer", {"packing", "static", "cancel"}),
        ("supervisor", {"packing", "static", "cancel", "close-day"}),
        ("agent", {"inbox", "static", "cancel", "refund"}),
        ("receiver", {"static", "refund", "returns"}),
        ("outsider", set()),
    ],
)
def test_each_role_gets_403_outside_its_own_page(client_for, username, allowed):
    client = client_for(username)
    for method, path in staff_routes():
        resp = client.request(method, path)
        if resource_of(path) in allowed:
            # Allowed through the permission check: a POST without CSRF token is refused later
            # (403 with its own message), a GET of a missing thing is 404, pages are 200.
            if method == "POST":
                assert resp.status_code == 403 and "expired" in resp.text, (username, path, resp.status_code)
            else:
                assert resp.status_code in (200, 404), (username, method, path, resp.status_code)
        else:
            assert resp.status_code == 403, (username, method, path, resp.status_code)
            assert "does not give access" in resp.text, (username, path)


def _csrf_from(html: str) -> str:
    match = re.search(r'(?:data-csrf|name="csrf_token" value)="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def test_post_without_or_with_a_bad_csrf_token_changes_nothing(client_for, make_order, make_conversation,
                                                                  views_sql):
    from sandbox.catalog import PRODUCTS_BY_SKU

    order_id = make_order([("AUD-NCH-700", 1)])
    barcode = PRODUCTS_BY_SKU["AUD-NCH-700"]["components"][0]["barcode"]
    packer = client_for("packer")
    url = f"/orderflow/packing/orders/{order_id}/scans"
    body = {"scans": [{"id": "s1", "code": barcode}]}

    def scans() -> int:
        with views_sql.cursor() as cur:
            cur.execute("SELECT count(*) FROM pack_scans WHERE order_id = %s", (order_id,))
            n = cur.fetchone()[0]
            cur.execute("SELECT count(*) FROM pack_sessions WHERE order_id = %s", (order_id,))
            return n + cur.fetchone()[0]

    agent_page = client_for("agent").get(f"/orderflow/inbox/conversations/{make_conversation(['Hi there'])}")
    agents_token = _csrf_from(agent_page.text)
    page = packer.get(f"/orderflow/packing/orders/{order_id}")
    token = _csrf_from(page.text)
    tampered = token[:-4] + ("0000" if not token.endswith("0000") else "1111")

    for headers in ({}, {"X-CSRF-Token": ""}, {"X-CSRF-Token": tampered}, {"X-CSRF-Token": agents_token}):
        resp = packer.post(url, json=body, headers=headers)
        assert resp.status_code == 403, headers
        assert scans() == 0, headers
    # The complete and print actions are refused the same way.
    assert packer.post(f"/orderflow/packing/orders/{order_id}/complete", json={}).status_code == 403
    assert packer.post(f"/orderflow/packing/orders/{order_id}/label-prints", json={"shipment_id": 1}).status_code == 403

    # The page's own token works, and only for its user.
    resp = packer.post(url, json=body, headers={"X-CSRF-Token": token})
    assert resp.status_code == 200, resp.text
    assert resp.json()["results"][0]["result"] == "ok"
    assert scans() == 2  # one session, one scan


def test_an_expired_csrf_token_is_refused():
    from orderflow.views.security import CSRF_TOKEN_TTL, StaffUser, csrf_token_valid, issue_csrf_token

    user = StaffUser(user=None, username="u", display_name="U", user_id="42")
    other = StaffUser(user=None, username="v", display_name="V", user_id="43")
    token = issue_csrf_token(user)
    issued = int(token.split(".")[0])
    assert csrf_token_valid(user, token)
    assert not csrf_token_valid(other, token)
    assert not csrf_token_valid(user, token, now=issued + CSRF_TOKEN_TTL + 1)
    assert not csrf_token_valid(user, "1.2.3")
    assert not csrf_token_valid(user, None)


def test_inbox_reply_without_csrf_sends_nothing_and_stores_nothing(client_for, make_conversation, views_sql):
    conversation_id = make_conversation(["Where is my parcel?"])
    agent = client_for("agent")
    resp = agent.post(f"/orderflow/inbox/conversations/{conversation_id}/reply", data={"body": "Hello there"})
    assert resp.status_code == 403
    with views_sql.cursor() as cur:
        cur.execute("SELECT count(*), bool_and(sender_type = 'CUSTOMER') FROM messages WHERE conversation_id = %s",
                    (conversation_id,))
        assert cur.fetchone() == (1, True)
        cur.execute("SELECT human_reply_needed_since IS NOT NULL FROM conversations WHERE conversation_id = %s",
                    (conversation_id,))
        assert cur.fetchone()[0] is True


def test_setup_roles_gives_each_role_exactly_its_permissions(staff_users):
    from orderflow import setup

    with setup._application_builder() as appbuilder:
        sm = appbuilder.sm
        # Something added by hand is removed by the next run; running twice changes nothing.
        packer = sm.find_role("Packer")
        sm.add_permission_to_role(packer, sm.create_permission("can_read", "Customer Service"))
        first = setup.sync_roles(sm)
        second = setup.sync_roles(sm)
        admin = {(p.action.name, p.resource.name) for p in sm.find_role("Admin").permissions}
    assert first == second
    ui = {("can_read", "Website"), ("can_read", "Plugins"), ("menu_access", "Plugins")}
    cancel = {("can_read", "Seller Cancelation"), ("can_edit", "Seller Cancelation")}
    refunds = {("can_read", "Refunds"), ("can_edit", "Refunds")}
    assert set(first["Packer"]) == {("can_read", "Packing Station"), ("can_edit", "Packing Station")} | cancel | ui
    assert set(first["Agent"]) == ({("can_read", "Customer Service"), ("can_edit", "Customer Service")} | cancel
                                   | refunds | ui)
    assert set(first["Receiver"]) == {("can_read", "Returns"), ("can_edit", "Returns")} | refunds | ui
    assert set(first["Pack Supervisor"]) == {("can_edit", "Packing Override"), ("can_read", "End of Day"),
                                             ("can_edit", "End of Day")} | ui
    assert set(setup.ADMIN_EXTRA) <= admin


def test_roles_command_line_is_idempotent(staff_users):
    import os

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    for _ in range(2):
        out = subprocess.run(
            [sys.executable, "-m", "orderflow.setup", "roles"], env=env, capture_output=True, text=True, timeout=120
        )
        assert out.returncode == 0, out.stderr[-2000:]
        assert "Packer: can_edit on Packing Station" in out.stdout


def test_the_plugin_is_listed_with_its_pages_for_a_packer(client_for):
    resp = client_for("packer").get("/api/v2/plugins")
    assert resp.status_code == 200, resp.text
    plugin = next(p for p in resp.json()["plugins"] if p["name"] == "orderflow")
    assert [a["url_prefix"] for a in plugin["fastapi_apps"]] == ["/orderflow"]
    views = {v["url_route"]: v["href"] for v in plugin["external_views"]}
    assert views == {"packing-station": "/orderflow/packing/", "customer-service": "/orderflow/inbox/",
                     "close-the-day": "/orderflow/close-day/", "returns": "/orderflow/returns/"}
    # An outsider has no Plugins permission: the navigation entry is not for them.
    assert client_for("outsider").get("/api/v2/plugins").status_code == 403


def test_login_through_the_fab_form_sets_the_cookie_our_pages_accept(airflow_app):
    """The real login page: form POST, `_token` cookie, then the page behind `next`."""
    from fastapi.testclient import TestClient

    client = TestClient(airflow_app, follow_redirects=False)
    login = client.get("/auth/login/?next=/orderflow/packing/")
    assert login.status_code == 200
    csrf = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', login.text)
    form = {"username": "packer", "password": PASSWORD}
    if csrf:
        form["csrf_token"] = csrf.group(1)
    resp = client.post("/auth/login/?next=/orderflow/packing/", data=form)
    assert resp.status_code in (302, 303), resp.text[:500]
    assert "_token" in client.cookies
    page = client.get("/orderflow/packing/")
    assert page.status_code == 200
    assert "Ready to pack" in page.text


def test_importing_the_plugin_is_cheap():
    """Every Airflow process imports plugins; ours must not pull in FastAPI or build the app."""
    code = (
        "import sys, time; import airflow.plugins_manager; t = time.perf_counter(); import orderflow.plugin; "
        "dt = time.perf_counter() - t; "
        "print(dt, 'fastapi.routing' in sys.modules and 'orderflow.views.packing' in sys.modules)"
    )
    import os

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    seconds, app_built = out.stdout.split()[-2:]
    assert app_built == "False"
    assert float(seconds) < 0.5
