"""Issue 18: Airflow's own "Add connection" page, in a real headless Chromium, against a real
`airflow api-server` run from the virtualenv that only has the orderflow wheel installed (no checkout
on its path, its own fresh metadata DB): picking "Canada Post" shows the typed form; the list's "Test"
button against the Canada Post sandbox reports success, and a refusal once the password is wrong.

Screenshots go to tests/artifacts/ (git-ignored).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from sandbox.testing import SandboxHandle, running_sandbox
from tests.packaging.conftest import REPO_ROOT, InstalledOrderflow
from tools import pg
from tools.cluster import free_port

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ARTIFACTS = REPO_ROOT / "tests" / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
ADMIN_PASSWORD = "orderflow-wheel-admin-1"
SENDER = {
    "sender_company": "Northern Electronics", "sender_phone": "613 555 0100", "sender_address_line_1": "100 Bank St",
    "sender_city": "Ottawa", "sender_province": "ON", "sender_postal_code": "K1P 5N2",
}



def _ensure_chromium() -> None:
    """The test command installs Debian's chromium when it is missing (never `playwright install`)."""
    if Path(CHROMIUM).exists():
        return
    subprocess.run(["apt-get", "update", "-qq"], check=True, timeout=300)
    subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], check=True, timeout=600,
                   env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    assert Path(CHROMIUM).exists()


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxHandle]:
    with running_sandbox(orders=1, seed=18) as sb:
        yield sb


@pytest.fixture(scope="module")
def airflow_env(installed_orderflow: InstalledOrderflow, pg_server: pg.Server) -> Iterator[dict[str, str]]:
    """A fresh Airflow metadata DB migrated by the installed Airflow, and an admin made by `orderflow user`."""
    name = f"of_t{os.getpid()}_wheel_af"
    pg.create_database(pg_server, name, drop_first=True)
    env = {
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": pg_server.url(name, "postgresql+psycopg2"),
        "AIRFLOW__API__SECRET_KEY": "orderflow-wheel-test-secret-key",
        "AIRFLOW__API_AUTH__JWT_SECRET": "orderflow-wheel-test-jwt-secret",
        "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
        "AIRFLOW__CORE__PARALLELISM": "2",
    }
    installed_orderflow.run(["airflow", "db", "migrate"], env=env, timeout=600)
    roles = installed_orderflow.run(["orderflow", "roles"], env=env)
    assert "Packer: can_edit on Packing Station" in roles.stdout
    out = installed_orderflow.run(["orderflow", "user", "--username", "admin", "--role", "Admin",
                                   "--password", ADMIN_PASSWORD], env=env)
    assert "user admin: created with roles Admin" in out.stdout
    yield env
    try:
        pg.drop_database(pg_server, name)
    except Exception as exc:  # a leftover throwaway DB must not fail the run
        print(f"could not drop {name}: {exc}")


@pytest.fixture(scope="module")
def api_server(installed_orderflow: InstalledOrderflow, airflow_env: dict[str, str]) -> Iterator[str]:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**installed_orderflow.env, **airflow_env, "AIRFLOW__API__BASE_URL": base}
    log_path = ARTIFACTS / "wheel-api-server.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [str(installed_orderflow.bin / "airflow"), "api-server", "--host", "127.0.0.1", "--port", str(port),
             "--workers", "1"],
            cwd=installed_orderflow.root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                pytest.fail(f"api-server exited {proc.returncode}: {log_path.read_text()[-3000:]}")
            try:
                if requests.get(f"{base}/api/v2/monitor/health", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"api-server not healthy after 180 s: {log_path.read_text()[-3000:]}")
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
        context = pw.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True,
            viewport={"width": 1280, "height": 1000},
        )
        try:
            yield context
        finally:
            context.close()
            shutil.rmtree(profile, ignore_errors=True)


def expect(locator: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def _shot(page: Any, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _open_add_connection(page: Any, base: str, conn_id: str, type_name: str) -> Any:
    page.goto(f"{base}/connections")
    page.get_by_role("button", name="Add Connection").click()
    dialog = page.get_by_role("dialog")
    dialog.locator("input[name=connection_id]").fill(conn_id)
    dialog.get_by_role("combobox").first.fill(type_name)
    page.keyboard.press("Enter")
    expect(dialog.get_by_text("Standard Fields")).to_be_visible()
    return dialog


def _test_button(page: Any, conn_id: str) -> Any:
    return page.get_by_role("row").filter(has_text=conn_id).get_by_role("button", name="Test Connection")


def test_add_connection_shows_typed_forms_and_test_reports_success_then_a_wrong_password(
    api_server: str, browser: Any, sandbox: SandboxHandle
):
    base = api_server
    page = browser.new_page()
    page.goto(f"{base}/auth/login/?next={base}/connections")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", ADMIN_PASSWORD)
    page.locator("input[type=submit], button[type=submit]").first.click()
    page.wait_for_url("**/connections*")

    # Best Buy: the shop API key, no login, a shop id field.
    dialog = _open_add_connection(page, base, "bestbuy_form", "Best Buy Marketplace (Mirakl)")
    expect(dialog.get_by_text("Shop API key", exact=True)).to_be_visible()
    expect(dialog.get_by_text("Login", exact=True)).to_have_count(0)
    dialog.get_by_text("Best Buy shop", exact=True).click()
    expect(dialog.get_by_text("Shop id", exact=True)).to_be_visible()
    dialog.get_by_text("Limits", exact=True).click()
    expect(dialog.get_by_text("Rate limits (calls per minute)", exact=True)).to_be_visible()
    expect(dialog.get_by_text("Read timeout (seconds)", exact=True)).to_be_visible()
    _shot(page, "connection-form-mirakl")
    dialog.get_by_role("button", name="Close").click()

    # Canada Post: relabelled credentials, the extras as named fields in sections, help under each.
    conn_id = "canadapost_form"
    dialog = _open_add_connection(page, base, conn_id, "Canada Post")
    for label in ("Base URL", "API user / client id", "API password / client secret"):
        expect(dialog.get_by_text(label, exact=True)).to_be_visible()
    expect(dialog.get_by_text("Schema", exact=True)).to_have_count(0)
    cp_url = sandbox.canadapost_url
    dialog.locator("input[name=host]").fill(cp_url)
    dialog.locator("input[name=port]").fill(cp_url.rsplit(":", 1)[1])
    dialog.locator("input[name=login]").fill(sandbox.canadapost_user)
    dialog.locator("input[name=password]").fill(sandbox.canadapost_password)
    sections = {
        "Canada Post account": {"customer_number": sandbox.canadapost_customer_number,
                                "contract_id": sandbox.canadapost_extras["contract_id"]},
        "Sender (the return address printed on every label)": SENDER,
    }
    for section, values in sections.items():
        dialog.get_by_text(section, exact=True).click()
        for name, value in values.items():
            dialog.locator(f"#element_{name}").fill(value)
        if section == "Canada Post account":
            for label in ("API transport", "Customer number", "Mailed on behalf of", "Contract id"):
                expect(dialog.get_by_text(label, exact=True)).to_be_visible()
            expect(dialog.get_by_text("1-10 digits", exact=False)).to_be_visible()
            _shot(page, "connection-form-canadapost")
    dialog.get_by_role("button", name="Save").click()
    expect(_test_button(page, conn_id)).to_be_visible()

    # What the form stored: today's extras, under their own names (the hooks read one format).
    token = requests.post(f"{base}/auth/token", json={"username": "admin", "password": ADMIN_PASSWORD},
                          timeout=30).json()["access_token"]
    stored = requests.get(f"{base}/api/v2/connections/{conn_id}", headers={"Authorization": f"Bearer {token}"},
                          timeout=30).json()
    extra = json.loads(stored["extra"])
    assert extra["customer_number"] == sandbox.canadapost_customer_number and extra["sender_city"] == "Ottawa"
    assert extra["mobo"] is None and stored["conn_type"] == "canadapost"

    before = len(sandbox.calls("canadapost"))
    _test_button(page, conn_id).click()
    expect(page.get_by_text("Connected to Canada Post (Developer Portal)", exact=False)).to_be_visible(
        timeout=60_000)
    _shot(page, "connection-test-success")
    assert len(sandbox.calls("canadapost")) > before  # the sandbox was really asked

    # A wrong password: edit, save, test again.
    page.get_by_role("row").filter(has_text=conn_id).get_by_role("button", name="Edit Connection").click()
    dialog = page.get_by_role("dialog")
    dialog.locator("input[name=password]").fill("not-the-secret")
    dialog.get_by_role("button", name="Save").click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    _test_button(page, conn_id).click()
    expect(page.get_by_text("Canada Post refused the credentials (HTTP 401)", exact=False)).to_be_visible(
        timeout=60_000)
    _shot(page, "connection-test-wrong-password")
    assert "not-the-secret" not in page.content()
