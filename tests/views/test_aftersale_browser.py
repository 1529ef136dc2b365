"""After-sale pages in a real headless Chromium against a real `airflow api-server` (issue 13): a
seller cancelation from the packing station, a partial refund from the inbox with its confirmation.
Best Buy's side is the sandbox's own state and call log: each money-moving call exactly once."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.catalog import PRODUCTS_BY_SKU
from tests.views.test_browser import DESKTOP, _login, _shot, api_server, browser  # noqa: F401 (fixtures)

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def sandbox():
    """This module's own sandbox (overrides the session's): its tests move Best Buy's clock, and the
    session's sandbox must keep real time (other modules order messages by it)."""
    from sandbox.testing import running_sandbox

    with running_sandbox(orders=2, seed=13) as sb:
        yield sb
SKUS = list(PRODUCTS_BY_SKU)


def _at_best_buy(sandbox: Any, lines: list[tuple[str, int]], *, ship: bool) -> str:
    from orderflow.hooks.mirakl import MiraklHook

    (order_id,) = sandbox.generate_orders(1, lines=lines)
    hook = MiraklHook()
    try:
        order = hook.get_order(order_id)
        hook.accept_order(order_id, [ln["order_line_id"] for ln in order["order_lines"]])
        sandbox.advance(30)
        assert hook.get_order(order_id)["order_state"] == "SHIPPING"
        if ship:
            hook.set_tracking(order_id, "CPCL", "7023210039414604")
            hook.mark_shipped(order_id)
    finally:
        hook.close()
    return order_id


def _form_values(page: Any, selector: str) -> dict[str, str]:
    """What the form would post (its fields as the browser sees them now)."""
    return page.evaluate(
        "(sel) => Object.fromEntries(new FormData(document.querySelector(sel)).entries())", selector)


def _writes(sandbox: Any, endpoint: str, order_id: str | None = None) -> int:
    return len([c for c in sandbox.calls("mirakl", endpoint) if c.outcome == "ok"])


def test_packer_cancels_a_damaged_order_from_the_packing_station(api_server, browser, sandbox, mirakl_env,  # noqa: F811
                                                                 make_order, views_store):
    lines = [(SKUS[0], 1), (SKUS[1], 2)]
    order_id = _at_best_buy(sandbox, lines, ship=False)
    make_order(lines, order_id=order_id, status="label_created")
    or30_before = _writes(sandbox, "OR30")

    page = browser.new_page()
    page.set_viewport_size(DESKTOP)
    _login(page, api_server, f"/orderflow/packing/orders/{order_id}", "packer")
    page.click("#aftersale-cancel")
    page.wait_for_url(f"**/aftersale/orders/{order_id}/cancel*")
    _shot(page, "aftersale-cancel-1280x800")
    page.select_option("#qty-1", "1")
    page.select_option("#qty-2", "2")
    page.select_option("#reason", "DAMAGED_BEFORE_SHIPPING")
    page.fill("#note", "box crushed, screen cracked")
    posted = _form_values(page, "#cancel-form")
    page.click("#cancel-submit")
    page.wait_for_selector("#result")
    _shot(page, "aftersale-canceled-1280x800")
    assert page.inner_text("#result-status") == "canceled by seller"
    assert "DO NOT SHIP" in page.inner_text("#result")
    assert _writes(sandbox, "OR30") - or30_before == 2  # one per line, each once
    state = sandbox.state("mirakl")
    assert state["orders"][order_id]["state"] == "CANCELED"
    assert sorted(c["quantity"] for c in state["cancelations"][order_id]) == [1, 2]
    last = views_store.history(order_id)[-1]
    assert last["status"] == "canceled_by_seller" and last["actor"] == "packer"
    assert last["detail"]["label_to_void"] is True

    # Back to the form: the order is canceled, no form any more. The same form posted again: refused.
    page.go_back()
    page.wait_for_load_state()
    assert "Cannot cancel" in page.inner_text("main")
    again = page.request.post(f"{api_server}/orderflow/aftersale/orders/{order_id}/cancel", form=posted)
    assert again.status == 409 and "Not canceled" in again.text()
    assert _writes(sandbox, "OR30") - or30_before == 2
    # The packing page says so.
    page.goto(f"{api_server}/orderflow/packing/orders/{order_id}")
    assert "DO NOT SHIP" in page.inner_text("main")
    page.close()


def test_agent_refunds_part_of_a_line_from_the_inbox_after_a_confirmation(api_server, browser, sandbox,  # noqa: F811
                                                                         mirakl_env, make_order,
                                                                         make_conversation, views_store):
    lines = [(SKUS[2], 1)]
    order_id = _at_best_buy(sandbox, lines, ship=True)
    make_order(lines, order_id=order_id, status="label_created")
    views_store.record_transition(order_id, "shipped", actor="test")
    conversation_id = make_conversation(["The box arrived dented, can you do something?"], order_id=order_id)
    or28_before = _writes(sandbox, "OR28")

    page = browser.new_page()
    page.set_viewport_size(DESKTOP)
    _login(page, api_server, f"/orderflow/inbox/conversations/{conversation_id}", "agent")
    page.click("#aftersale-refund")
    page.wait_for_url(f"**/aftersale/orders/{order_id}/refund")
    left = page.inner_text("tr[data-line] td.left")
    page.fill("#amount", "9999.00")
    page.select_option("#reason", "DAMAGED_IN_TRANSIT")
    page.click("#refund-review")
    page.wait_for_load_state()
    assert "Too much" in page.inner_text("main") and _writes(sandbox, "OR28") == or28_before
    page.go_back()
    page.wait_for_selector("#refund-form")
    page.fill("#amount", "25.00")
    page.select_option("#reason", "DAMAGED_IN_TRANSIT")
    page.click("#refund-review")
    page.wait_for_selector("#confirmation")
    _shot(page, "aftersale-refund-confirm-1280x800")
    assert page.inner_text("#confirm-amount") == "25.00"
    assert float(page.inner_text("#confirm-total").split()[0]) > 25.0  # taxes shown before sending
    assert float(page.inner_text("#confirm-left")) == pytest.approx(float(left) - 25.0)
    assert _writes(sandbox, "OR28") == or28_before  # nothing sent by the confirmation
    posted = _form_values(page, "#confirm-form")
    page.click("#refund-send")
    page.wait_for_selector("#result")
    _shot(page, "aftersale-refunded-1280x800")
    assert page.inner_text("#result-status") == "partially refunded"
    assert _writes(sandbox, "OR28") - or28_before == 1
    (refund,) = sandbox.state("mirakl")["refunds"][order_id]
    assert refund["amount"] == 25.0 and refund["reason"] == "DAMAGED_IN_TRANSIT"

    # The confirmation posted again (a double click, a resent form): the same intent, no second refund.
    again = page.request.post(f"{api_server}/orderflow/aftersale/orders/{order_id}/refund", form=posted)
    assert again.status == 200 and "Done at Best Buy" in again.text()
    assert _writes(sandbox, "OR28") - or28_before == 1
    assert len(sandbox.state("mirakl")["refunds"][order_id]) == 1
    (intent,) = views_store.money_intents_for_order(order_id)
    assert intent["requested_by"] == "agent" and intent["status"] == "done"
    page.close()


def test_receiver_receives_judges_and_refunds_a_mail_in_return(api_server, browser, sandbox, mirakl_env,  # noqa: F811
                                                               make_order, views_store):
    import requests

    from orderflow import returns_flow
    from orderflow.hooks.mirakl import MiraklHook

    lines = [(SKUS[3], 1)]
    order_id = _at_best_buy(sandbox, lines, ship=True)
    make_order(lines, order_id=order_id, status="label_created")
    views_store.record_transition(order_id, "shipped", actor="test")
    ret = requests.post(f"{sandbox.mirakl_url}/__admin/return",
                        json={"order_id": order_id, "method": "RETURN_METHOD_BY_MAIL"}, timeout=5).json()
    hook = MiraklHook()
    try:
        returns_flow.sync(views_store, hook, force=True)  # what the returns task group does
    finally:
        hook.close()
    counts = {ep: _writes(sandbox, ep) for ep in ("RT25", "RT26", "RT27", "OR28")}

    page = browser.new_page()
    page.set_viewport_size(DESKTOP)
    _login(page, api_server, "/orderflow/returns/", "receiver")
    page.fill("#code", ret["tracking"]["tracking_number"])  # the return label's PIN, scanned
    page.press("#code", "Enter")
    page.wait_for_url(f"**/returns/{ret['id']}")
    assert page.inner_text("#return-state") == "IN_PROGRESS"
    page.click("#receive")
    page.wait_for_url("**?done=received")
    assert page.inner_text("#return-state") == "RECEIVED"
    assert page.inner_text("#order-status") == "returned"
    page.check("#ok-1")
    page.click("#judge")
    page.wait_for_url("**?done=judged")
    assert page.inner_text("td.verdict") == "compliant"
    total = page.inner_text("#refund-total")
    _shot(page, "returns-refund-1280x800")
    page.click("#refund")
    page.wait_for_url("**?done=refunded")
    assert page.inner_text("#order-status") == "refunded"
    assert "done" in page.inner_text("#return-refunds")
    page.click("#close")
    page.wait_for_url("**?done=closed")
    assert page.inner_text("#return-state") == "CLOSED"
    _shot(page, "returns-closed-1280x800")
    after = {ep: _writes(sandbox, ep) - counts[ep] for ep in counts}
    assert after == {"RT25": 1, "RT26": 1, "RT27": 1, "OR28": 1}  # each exactly once
    (refund,) = sandbox.state("mirakl")["refunds"][order_id]
    assert refund["amount"] < float(total.split()[0])  # the total shown included the taxes
    page.close()
