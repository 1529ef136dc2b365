"""Incidents (issue 13): listed first in the inbox with Best Buy's 4-day clock and "payout held",
resolved with OR64 exactly where Best Buy lets the seller; the whole Airflow app, the sandbox over HTTP."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import requests

from orderflow.views.aftersale import incident_clock


@pytest.fixture(scope="module")
def sandbox():
    """This module's own sandbox (overrides the session's): its tests move Best Buy's clock, and the
    session's sandbox must keep real time (other modules order messages by it)."""
    from sandbox.testing import running_sandbox

    with running_sandbox(orders=2, seed=17) as sb:  # its own order ids (they carry the seed)
        yield sb


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match
    return match.group(1)


def test_the_4_day_clock():
    now = datetime(2026, 12, 3, 12, tzinfo=UTC)
    assert incident_clock(now - timedelta(hours=1), now)["css"] == "deadline-ok"
    assert incident_clock(now - timedelta(days=2, hours=1), now)["css"] == "deadline-warn"  # reminders after 2
    late = incident_clock(now - timedelta(days=4, hours=1), now)
    assert late["late"] and late["css"] == "deadline-late"
    assert incident_clock(None, now)["left_seconds"] is None


def test_an_open_incident_is_listed_first_and_resolved_once(client_for, mirakl_env, views_store, make_conversation):
    from orderflow.hooks.mirakl import MiraklHook
    from orderflow.hooks.mirakl_records import order_from_payload

    sandbox = mirakl_env
    (order_id,) = sandbox.generate_orders(1)
    hook = MiraklHook()
    try:
        order = hook.get_order(order_id)
        hook.accept_order(order_id, [ln["order_line_id"] for ln in order["order_lines"]])
        sandbox.advance(30)
        hook.set_tracking(order_id, "CPCL", "7023210039414604")
        hook.mark_shipped(order_id)
        line_id = order["order_lines"][0]["order_line_id"]
        requests.post(f"{sandbox.mirakl_url}/__admin/incident",
                      json={"order_id": order_id, "order_line_id": line_id, "reason": "ITEM_NOT_RECEIVED"},
                      timeout=5).raise_for_status()
        # what ingest does with the updated order
        views_store.upsert_orders([order_from_payload(hook.get_order(order_id))])
    finally:
        hook.close()
    views_store.record_transition(order_id, "accepted", actor="test")
    conversation_id = make_conversation(["Where is my parcel? I opened an incident."], order_id=order_id)

    agent = client_for("agent")
    inbox = agent.get("/orderflow/inbox/")
    assert inbox.status_code == 200
    html = inbox.text
    assert html.index('id="incidents"') < html.index("inbox-tools")  # incidents come first
    row = re.search(rf'<tr data-line="{re.escape(line_id)}">(.*?)</tr>', html, re.S).group(1)
    assert "Item not received" in row and "payout held" in row and "left" in row
    assert f"/inbox/conversations/{conversation_id}" in row

    page = agent.get(f"/orderflow/aftersale/orders/{order_id}/lines/{line_id}/incident")
    assert page.status_code == 200 and "ANSWERED" in page.text and "OPERATOR_DECISION" not in page.text
    before = len(sandbox.calls("mirakl", "OR64"))
    resolved = agent.post(f"/orderflow/aftersale/orders/{order_id}/lines/{line_id}/incident",
                          data={"csrf_token": _csrf(page.text), "reason_code": "ANSWERED"})
    assert resolved.status_code == 303 and "incident_resolved" in resolved.headers["location"]
    assert len(sandbox.calls("mirakl", "OR64")) - before == 1
    assert sandbox.state("mirakl")["open_incidents"].get(line_id) is None
    assert f'data-line="{line_id}"' not in agent.get("/orderflow/inbox/").text
    # Posted again: Best Buy refuses (no open incident) and shows it resolved: nothing else happens.
    again = agent.post(f"/orderflow/aftersale/orders/{order_id}/lines/{line_id}/incident",
                       data={"csrf_token": _csrf(page.text), "reason_code": "ANSWERED"})
    assert again.status_code == 303
    # A packer may not resolve incidents.
    assert client_for("packer").get(f"/orderflow/aftersale/orders/{order_id}/lines/{line_id}/incident").status_code \
        == 403
