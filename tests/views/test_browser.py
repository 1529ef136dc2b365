"""The staff pages in a real headless Chromium against a real `airflow api-server` (FAB auth manager,
our plugin loaded by Airflow's plugin manager), logged in through FAB's own login page.

Screenshots of every page go to tests/artifacts/ (git-ignored) at 1280x800 and at tablet width.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from sandbox.catalog import PRODUCTS_BY_SKU
from tests.views.conftest import PASSWORD, sync_sandbox_thread
from tools.cluster import free_port

pytestmark = pytest.mark.browser

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "tests" / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 800}
TABLET = {"width": 800, "height": 1280}
CANARY = "<script>window.__pwned = 1</script><img src=x onerror=\"window.__pwned = 2\">"



def _ensure_chromium() -> None:
    """The test command installs Debian's chromium when it is missing (never `playwright install`)."""
    if Path(CHROMIUM).exists():
        return
    subprocess.run(["apt-get", "update", "-qq"], check=True, timeout=300)
    subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], check=True, timeout=600,
                   env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    assert Path(CHROMIUM).exists()


@pytest.fixture(scope="module")
def api_server(staff_users, views_db_url, views_store, sandbox) -> Iterator[str]:
    """`airflow api-server` on an ephemeral port, with this session's Airflow DB and our order DB."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "AIRFLOW_CONN_ORDERFLOW_DB": views_db_url,
        **{f"AIRFLOW_CONN_{k.upper()}": v for k, v in sandbox.airflow_conn_uris().items()},
        "AIRFLOW__API__BASE_URL": base,
        "AIRFLOW__CORE__PARALLELISM": "2",
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "plugins"), str(REPO_ROOT)]),
    }
    log_path = ARTIFACTS / "api-server.log"
    airflow = str(Path(sys.executable).with_name("airflow"))
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [airflow, "api-server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                pytest.fail(f"api-server exited {proc.returncode}: {log_path.read_text()[-3000:]}")
            try:
                if requests.get(f"{base}/api/v2/monitor/health", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"api-server not healthy after 120 s: {log_path.read_text()[-3000:]}")
            time.sleep(0.5)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    _ensure_chromium()
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="orderflow-chromium-")
    with sync_playwright() as pw:
        # A persistent context is the way to give Chromium a fresh user-data dir of our own.
        context = pw.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True, viewport=DESKTOP,
        )
        try:
            yield context
        finally:
            context.close()
            shutil.rmtree(profile, ignore_errors=True)


def expect(locator: Any) -> Any:
    # Locator assertions run in Playwright's own world: our pages' CSP (no eval) does not stop them.
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def _shot(page: Any, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=False)


def _login(page: Any, base: str, path: str, username: str) -> None:
    page.context.clear_cookies()
    page.goto(f"{base}{path}")
    # Anonymous: our page sent the browser to FAB's login form, which brings it back here.
    page.wait_for_url("**/auth/login/**")
    _shot(page, "login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.locator("input[type=submit], button[type=submit]").first.click()
    page.wait_for_url(f"{base}{path}*")


def test_packer_scans_an_order_at_wedge_speed_and_packs_it(api_server, browser, make_order, views_store,
                                                           views_sql):
    base = api_server
    order_id = make_order([("GAM-CONSOLE-1TB", 2), ("CBL-HDMI-2M-3PK", 2), ("LAP-AUR14-BNDL", 1)],
                          firstname="Marie-Ève", lastname="Gagnon", city="Sherbrooke")
    make_order([("AUD-TWS-200", 1)], deadline_in=timedelta(hours=2))
    codes: list[str] = []
    for sku, qty in (("GAM-CONSOLE-1TB", 2), ("CBL-HDMI-2M-3PK", 2), ("LAP-AUR14-BNDL", 1)):
        for component in PRODUCTS_BY_SKU[sku]["components"]:
            codes += [component["barcode"]] * (component["quantity"] * qty)
    assert len(codes) == 15
    wrong = PRODUCTS_BY_SKU["TV-55-4K"]["components"][0]["barcode"]

    page = browser.new_page()
    page.set_viewport_size(DESKTOP)
    page.on("dialog", lambda d: d.dismiss())
    _login(page, base, "/orderflow/packing/", "packer")
    assert page.locator("h1", has_text="Ready to pack").is_visible()
    _shot(page, "packing-queue-1280x800")

    # Open the order by typing its id into the scan/lookup field, like a scanned packing slip.
    page.fill("#code", order_id)
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/orderflow/packing/orders/{order_id}")
    assert page.evaluate("document.activeElement.id") == "scan"
    assert "Marie-Ève Gagnon" in page.content() and "123 Secret Street" not in page.content()
    _shot(page, "packing-order-1280x800")

    # A wrong item first: red, error message, nothing counted, focus stays in the field.
    page.keyboard.type(wrong)
    page.keyboard.press("Enter")
    page.wait_for_selector("#feedback.feedback-error")
    assert "Wrong item" in page.inner_text("#feedback")
    assert page.inner_text("#overall-counted") == "0"
    assert page.evaluate("document.activeElement.id") == "scan"
    _shot(page, "packing-wrong-item-1280x800")

    # All 15 units as a wedge scanner sends them: characters then Enter, no pause between codes.
    for code in codes[:-1]:
        page.keyboard.type(code)
        page.keyboard.press("Enter")
    expect(page.locator("#overall-counted")).to_have_text("14", timeout=20_000)
    assert "feedback-ok" in page.get_attribute("#feedback", "class")
    page.set_viewport_size(TABLET)
    _shot(page, "packing-progress-tablet")
    page.set_viewport_size(DESKTOP)
    page.keyboard.type(codes[-1])
    page.keyboard.press("Enter")
    page.wait_for_selector("#done-panel:not([hidden])", timeout=20_000)
    assert "PACKED" in page.inner_text("#done-panel")
    assert page.locator(".component.done").count() == page.locator(".component").count()

    # Packed: a fact about the parcel (its closed session names the packer); the order's status stays.
    assert views_store.current_status(order_id) == "label_created"
    with views_sql.cursor() as cur:
        cur.execute("SELECT status, packer FROM pack_sessions WHERE order_id = %s", (order_id,))
        assert cur.fetchall() == [("packed", "packer")]
    with views_sql.cursor() as cur:
        cur.execute("SELECT result, count(*) FROM pack_scans WHERE order_id = %s GROUP BY result", (order_id,))
        assert dict(cur.fetchall()) == {"ok": 15, "wrong_item": 1}

    # Print the label: the print is logged, a second one is a reprint.
    page.click(".btn-print")
    expect(page.locator(".print-status").first).to_have_text("Print logged")
    page.click(".btn-print")
    expect(page.locator(".print-status").first).to_have_text("Reprint logged")
    with views_sql.cursor() as cur:
        cur.execute("SELECT printed_by, is_reprint FROM label_prints WHERE order_id = %s ORDER BY id", (order_id,))
        assert cur.fetchall() == [("packer", False), ("packer", True)]
    _shot(page, "packing-packed-1280x800")
    page.set_viewport_size(TABLET)
    page.goto(f"{base}/orderflow/packing/")
    _shot(page, "packing-queue-tablet")

    # The packer is refused the inbox, and sees the station inside Airflow's UI.
    page.set_viewport_size(DESKTOP)
    resp = page.goto(f"{base}/orderflow/inbox/")
    assert resp.status == 403
    page.goto(f"{base}/plugin/packing-station")
    page.wait_for_selector("iframe")
    page.frame_locator("iframe").first.locator("h1", has_text="Ready to pack").wait_for(timeout=20_000)
    _shot(page, "airflow-ui-packing-station")
    page.close()


def test_agent_replies_with_a_template(api_server, browser, sandbox, views_store, views_sql, monkeypatch):
    base = api_server
    for conn_id, value in sandbox.airflow_conn_uris().items():
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", value)
    thread_id, _ = sandbox.generate_messages(1, new_thread=True)[0]
    conversation_id = sync_sandbox_thread(views_store, sandbox, thread_id)
    with views_sql.cursor() as cur:  # a hostile message in the same thread must render as text
        cur.execute(
            "INSERT INTO messages (mirakl_message_id, conversation_id, sender_type, sender_name, body, sent_at)"
            " VALUES (%s, %s, 'CUSTOMER', 'x', %s, now())",
            (f"canary-{conversation_id}", conversation_id, CANARY),
        )

    page = browser.new_page()
    page.set_viewport_size(DESKTOP)
    _login(page, base, "/orderflow/inbox/", "agent")
    _shot(page, "inbox-list-1280x800")
    page.click(f"a.conv-link[href$='/inbox/conversations/{conversation_id}']")
    page.wait_for_url(f"**/inbox/conversations/{conversation_id}")
    assert page.evaluate("window.__pwned") is None
    assert page.locator(".message .body", has_text="<script>window.__pwned = 1</script>").count() == 1
    _shot(page, "inbox-conversation-1280x800")

    page.select_option("#template-select", "where_is_my_order")
    text = page.input_value("#reply-body")
    order_id = views_store.inbox_conversation(conversation_id)["order_id"]
    assert f"Your order {order_id} is" in text and "{" not in text
    calls_before = len(sandbox.calls("mirakl"))
    page.click("#send")
    page.wait_for_url("**?sent=1")
    assert "Reply sent to the customer." in page.inner_text("main")
    last = page.locator(".message").last
    assert "Shop" in last.inner_text() and "Alex Agent" in last.inner_text()
    assert f"Your order {order_id} is" in last.inner_text()
    m12 = [c for c in sandbox.calls("mirakl", since=calls_before) if c.endpoint == "M12"]
    assert len(m12) == 1 and thread_id in m12[0].path
    from orderflow.hooks.mirakl import MiraklHook

    hook = MiraklHook()
    try:
        bodies = [m.get("body", "") for m in hook.get_thread(thread_id).get("messages", [])]
    finally:
        hook.close()
    assert any(f"Your order {order_id} is" in b for b in bodies)
    with views_sql.cursor() as cur:
        cur.execute("SELECT human_reply_needed_since FROM conversations WHERE conversation_id = %s",
                    (conversation_id,))
        assert cur.fetchone()[0] is None
    _shot(page, "inbox-replied-1280x800")
    page.set_viewport_size(TABLET)
    _shot(page, "inbox-conversation-tablet")
    page.goto(f"{base}/orderflow/inbox/?filter=all")
    _shot(page, "inbox-list-tablet")
    assert page.goto(f"{base}/orderflow/packing/").status == 403
    page.close()


def test_supervisor_closes_the_day_and_prints_the_manifest(api_server, browser, sandbox, views_store, make_order,
                                                           views_sql, monkeypatch):
    """Two labels bought at the sandbox in today's group; the supervisor's button transmits it (the
    api-server runs the close of day), the manifest PDF is stored, and printing opens that PDF."""
    import hashlib
    from datetime import UTC, datetime

    from orderflow.hooks.canadapost import CanadaPostHook
    from orderflow.mailing_day import CutOff
    from orderflow.views.close_day import closing_day
    from tests.hooks._cp_fixtures import shipment_request

    base = api_server
    for conn_id, value in sandbox.airflow_conn_uris().items():
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", value)
    day = closing_day(datetime.now(UTC), CutOff())  # the api-server runs with the default cut-off
    hook = CanadaPostHook()
    bought = []
    for _ in range(2):
        order_id = make_order([("AUD-TWS-200", 1)], status="accepted")
        crid = f"{order_id}-1"
        views_store.create_shipment_intent(order_id=order_id, package_no=1, customer_request_id=crid)
        group = views_store.assign_shipping_group(crid, day)
        info = hook.create_shipment(shipment_request(crid, group_id=group), look_up_first=False)
        views_store.mark_shipment_created(crid, shipment_id=info.shipment_id, tracking_pin=info.tracking_pin,
                                          links=info.links, price=info.price)
        bought.append(info.shipment_id)
    transmits = len(sandbox.calls("canadapost", "transmit_shipments"))

    page = browser.new_page()
    page.set_viewport_size(DESKTOP)
    _login(page, base, "/orderflow/close-day/", "supervisor")
    expect(page.locator(f'tr[data-group="{group}"] .parcels')).to_have_text("2")
    expect(page.locator("#cutoff-clock")).to_contain_text("Canada Post cut-off")
    _shot(page, "close-day-before-1280x800")
    page.click("#close-now")
    page.wait_for_url("**/close-day/?msg=*")
    expect(page.locator("#close-message")).to_contain_text("transmitted")
    expect(page.locator(f'tr[data-group="{group}"] .status')).to_have_text("transmitted")
    assert len(sandbox.calls("canadapost", "transmit_shipments")) > transmits
    with views_sql.cursor() as cur:
        cur.execute("SELECT id, manifest_id, pdf_sha256, shipment_count FROM manifests"
                    " WHERE group_id = %s AND found_by = 'transmit answer'", (group,))
        ((manifest_row, manifest_id, sha256, count),) = cur.fetchall()
    at_carrier = sandbox.canadapost.store.manifests[manifest_id]
    assert sorted(at_carrier.shipment_ids) == sorted(bought) and count == 2
    _shot(page, "close-day-after-1280x800")

    button = page.locator(f'.manifest[data-manifest="{manifest_id}"] .btn-print-manifest')
    with page.expect_response(lambda r: r.url.endswith(f"/close-day/manifests/{manifest_row}.pdf")) as answer:
        button.click()
    pdf = answer.value
    assert pdf.status == 200 and pdf.headers["content-type"] == "application/pdf"
    # What the browser opened to print is the stored, validated manifest (Chromium's PDF viewer takes
    # the navigation over, so read the same URL again with the page's own session).
    again = page.context.request.get(pdf.url)
    assert again.status == 200 and hashlib.sha256(again.body()).hexdigest() == sha256
    with views_sql.cursor() as cur:
        cur.execute("SELECT printed_by FROM manifests WHERE id = %s", (manifest_row,))
        assert cur.fetchone()[0] == "supervisor"


def _shop_bodies(sandbox, thread_id: str) -> list[str]:
    with sandbox.mirakl.lock:
        messages = list(sandbox.mirakl.threads[thread_id]["messages"])
    return [m["body"] for m in messages if m["from"]["type"] == "SHOP_USER"]


def test_double_click_on_send_and_send_again_after_a_lost_answer_reach_the_customer_once(
    api_server, browser, sandbox, views_store, monkeypatch
):
    """Issue 12 item 5 in a real browser: a double click on Send (with and without the page's script,
    which may not have loaded yet) and a second Send after Best Buy took the reply but its answer was
    lost each leave exactly one message at Best Buy."""
    base = api_server
    for conn_id, value in sandbox.airflow_conn_uris().items():
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", value)
    thread_id, _ = sandbox.generate_messages(1, new_thread=True)[0]
    conversation_id = sync_sandbox_thread(views_store, sandbox, thread_id)
    path = f"/orderflow/inbox/conversations/{conversation_id}"
    page = browser.new_page()
    page.set_viewport_size(DESKTOP)
    _login(page, base, path, "agent")

    # 1. A double click with the page's script blocked (a slow or failed script load): two form posts.
    page.route("**/static/inbox.js", lambda route: route.abort())
    page.goto(f"{base}{path}")
    first = "Double-clicked reply: your parcel is on its way."
    page.fill("#reply-body", first)
    calls_before = len(sandbox.calls("mirakl"))
    sandbox.set_faults("mirakl", "M12", latency_ms=1000, count=2)  # the first post is still in flight
    page.dblclick("#send")
    page.wait_for_url("**?sent=1*")
    expect(page.locator("#reply-sent")).to_be_visible()
    page.unroute("**/static/inbox.js")
    sandbox.clear_faults("mirakl")
    assert _shop_bodies(sandbox, thread_id).count(first) == 1
    m12 = [c for c in sandbox.calls("mirakl", since=calls_before) if c.endpoint == "M12"]
    assert len(m12) == 1

    # 2. The same with the script (it disables the button after the first click).
    page.goto(f"{base}{path}")
    second = "Second reply, double-clicked with the script loaded."
    page.fill("#reply-body", second)
    page.dblclick("#send")
    page.wait_for_url("**?sent=1*")
    assert _shop_bodies(sandbox, thread_id).count(second) == 1

    # 3. Best Buy stores the reply but the answer is lost; the agent presses Send again.
    page.goto(f"{base}{path}")
    third = "Third reply, whose first answer was lost on the way back."
    page.fill("#reply-body", third)
    calls_before = len(sandbox.calls("mirakl"))
    sandbox.set_faults("mirakl", "M12", drop_rate=1, count=1)
    page.click("#send")
    page.wait_for_selector("#reply-error")
    assert "your text is kept" in page.inner_text("#reply-error").lower()
    assert page.input_value("#reply-body") == third
    _shot(page, "inbox-reply-being-checked-1280x800")
    page.click("#send")
    page.wait_for_load_state()
    assert _shop_bodies(sandbox, thread_id).count(third) == 1  # the customer got it once
    assert len([c for c in sandbox.calls("mirakl", since=calls_before) if c.endpoint == "M12"]) == 1
    page.wait_for_url("**?sent=1*")  # it was found at Best Buy (read back), not sent again
    expect(page.locator("#reply-sent")).to_be_visible()
    assert third in page.locator(".message").last.inner_text()
    page.close()
