"""CanadaPostHook end to end against the Canada Post sandbox, parametrized over both transports
(XML gateway with Basic auth, Developer Portal with OAuth 2 + JSON): every operation, the injected
faults, and exactly one shipment at the carrier after commit-then-drop (asserted from the sandbox's
own state). Retry waits are recorded instead of slept, except the label's real >= 1 s 202 wait."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from orderflow.hooks._http import RetryPolicy
from orderflow.hooks.canadapost import (
    CanadaPostHook,
    CanadaPostPermanentError,
    CreateInDoubt,
    RefundRequired,
    VoidNotFound,
)
from sandbox.testing import SandboxHandle, running_sandbox
from tests.hooks._cp_fixtures import SENDER_EXTRAS, shipment_request

TRANSPORTS = ["xml", "portal"]


@pytest.fixture(scope="module")
def sb() -> Iterator[SandboxHandle]:
    with running_sandbox(seed=11) as handle:
        yield handle


@pytest.fixture
def sandbox(sb: SandboxHandle) -> Iterator[SandboxHandle]:
    sb.clear_faults()
    sb.canadapost.artifact_not_ready_first = False
    CanadaPostHook._tokens.clear()
    yield sb
    sb.clear_faults()
    sb.canadapost.artifact_not_ready_first = False
    CanadaPostHook._tokens.clear()


def _connect(sb: SandboxHandle, monkeypatch: pytest.MonkeyPatch, api: str, **extras: Any) -> None:
    conn = json.loads(sb.airflow_conn_uris()["canadapost_default"])
    conn["extra"].update(SENDER_EXTRAS, api=api, refund_email="refunds@example.ca", **extras)
    monkeypatch.setenv("AIRFLOW_CONN_CANADAPOST_DEFAULT", json.dumps(conn))


@pytest.fixture(params=TRANSPORTS)
def api(request, sandbox, monkeypatch) -> str:
    _connect(sandbox, monkeypatch, request.param)
    return request.param


@pytest.fixture
def sleeps() -> list[float]:
    return []


def hook(sleeps: list[float], **kw: Any) -> CanadaPostHook:
    kw.setdefault("retry_policy", RetryPolicy(max_attempts=4, max_total_seconds=1000, initial_wait=0.01,
                                              max_wait=0.05))
    kw.setdefault("timeout", (2.0, 2.0))
    return CanadaPostHook(sleep=sleeps.append, **kw)


_counter = iter(range(10_000))


def crid(api: str) -> str:
    return f"IT{next(_counter)}-{api}-{time.time_ns() % 10**6}"[:35]


def active_at_carrier(sb: SandboxHandle, request_id: str) -> list[str]:
    return sb.state("canadapost")["active_shipments_by_customer_request_id"].get(request_id, [])


def calls(sb: SandboxHandle, endpoint: str | None, since: int, until: Any = None) -> list[Any]:
    """The sandbox's call records since ``since``. The server logs a call just after writing the answer,
    so a client can see the answer first: poll briefly until ``until(records)`` holds."""
    deadline = time.monotonic() + 2.0
    while True:
        records = sb.calls("canadapost", endpoint, since=since)
        if until is None or until(records) or time.monotonic() > deadline:
            return records
        time.sleep(0.01)


def mark(sb: SandboxHandle) -> int:
    records = sb.server("canadapost").calls_since(0)
    return records[-1].index + 1 if records else 0


# --------------------------------------------------------------------------------------------
# every operation, end to end
# --------------------------------------------------------------------------------------------


def test_every_operation_end_to_end(sandbox, api, sleeps):
    h = hook(sleeps)
    assert h.test_connection()[0]
    rid = crid(api)
    info = h.create_shipment(shipment_request(rid, group_id="IT-GROUP-" + api))
    assert info.shipment_id and info.tracking_pin and info.status == "created"
    assert info.customer_request_id == rid and info.price is not None and info.price > 0
    assert active_at_carrier(sandbox, rid) == [info.shipment_id]

    assert [i.shipment_id for i in h.find_shipments(customer_request_id=rid)] == [info.shipment_id]
    assert [i.shipment_id for i in h.find_shipments(tracking_pin=info.tracking_pin)] == [info.shipment_id]
    assert h.get_shipment(info.shipment_id).tracking_pin == info.tracking_pin
    assert h.get_shipment(info.self_link).shipment_id == info.shipment_id
    details = h.get_shipment_details(info)
    assert details.tracking_pin == info.tracking_pin

    label, ctype = h.get_label(info.label_link)
    assert ctype == "application/pdf" and label.startswith(b"%PDF")

    assert h.track(info.tracking_pin).event_type is None  # not scanned before transmit

    # a second, ungrouped label can be voided (204); a void of it again is NOT a success
    spare = h.create_shipment(shipment_request(crid(api), group_id="IT-SPARE-" + api))
    h.void_shipment(spare)
    assert active_at_carrier(sandbox, spare.customer_request_id) == []
    with pytest.raises(VoidNotFound):
        h.void_shipment(spare)

    result = h.transmit(["IT-GROUP-" + api])
    assert result.manifest_links
    with pytest.raises(RefundRequired) as err:
        h.void_shipment(info)  # transmitted: 8064
    assert err.value.codes == ["8064"]
    refund = h.request_refund(info)
    assert refund.service_ticket_id and not refund.already_requested
    assert h.request_refund(info).already_requested  # 409 / 7292

    sandbox.advance(4 * 3600)
    summary = h.track(info.tracking_pin)
    assert summary.pin == info.tracking_pin and summary.delivered


def test_validation_error_is_permanent_with_carrier_codes(sandbox, api, sleeps):
    rid = crid(api)
    with pytest.raises(CanadaPostPermanentError) as err:
        hook(sleeps).create_shipment(shipment_request(rid, service_code="DOM.NOPE"))
    assert err.value.status == 400 and err.value.messages
    assert active_at_carrier(sandbox, rid) == []


# --------------------------------------------------------------------------------------------
# money: exactly one shipment at the carrier whatever happens to the create answer
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fault",
    [
        {"drop_rate": 1, "count": 1},  # commit-then-drop
        {"drop_rate": 1, "count": 2},  # twice: the second POST's answer is lost too
        {"error_rate": 1, "error_statuses": [503], "error_after_commit": True, "count": 1},
        {"hang_rate": 1, "hang_after_commit": True, "hang_seconds": 3, "count": 1},
        {"malformed_rate": 1, "count": 1},
    ],
    ids=["commit-then-drop", "drop-twice", "5xx-after-commit", "hang-after-commit", "malformed"],
)
def test_exactly_one_shipment_at_the_carrier(sandbox, api, sleeps, fault):
    rid = crid(api)
    sandbox.set_faults("canadapost", "create_shipment", **fault)
    start = mark(sandbox)
    info = hook(sleeps, timeout=(2.0, 0.5)).create_shipment(shipment_request(rid))
    assert active_at_carrier(sandbox, rid) == [info.shipment_id]
    # A fault after the carrier acted means the shipment was adopted by the look-up, not bought
    # by the POST whose answer came through.
    # (A malformed body is a real answer cut after the carrier acted: adopted too.)
    acted_then_lost = any(fault.get(k) for k in ("drop_rate", "error_after_commit", "hang_after_commit",
                                                 "malformed_rate"))
    assert info.adopted is bool(acted_then_lost)
    assert sandbox.state("canadapost")["shipments_by_customer_request_id"][rid] == [info.shipment_id]
    posts = calls(sandbox, "create_shipment", start)
    lookups = calls(sandbox, "get_shipments", start, until=lambda rs: len(rs) >= len(posts))
    # every POST after the first came after a look-up that found nothing
    assert len(lookups) >= len(posts)


def test_5xx_before_commit_is_a_doubt_not_a_quick_second_post(sandbox, api, sleeps):
    """Issue 12 item 4 (replaces the old "5xx storm: POST, look-up, POST" case): the client cannot tell
    a 5xx before Canada Post acted from one after, so an empty look-up right after is no proof."""
    rid = crid(api)
    sandbox.set_faults("canadapost", "create_shipment", error_rate=1, error_statuses=[500, 502, 503], count=1)
    start, arrived_from = mark(sandbox), time.time()
    with pytest.raises(CreateInDoubt):
        hook(sleeps).create_shipment(shipment_request(rid))
    assert active_at_carrier(sandbox, rid) == []
    # (by arrival time: an earlier test's hung POST may enter the log only now)
    posts = [c for c in calls(sandbox, "create_shipment", start, until=lambda rs: len(rs) >= 1) if c.ts >= arrived_from]
    assert len(posts) == 1
    # The caller's later look-up (after create_recheck_seconds) finds nothing: one POST buys it.
    info = hook(sleeps).create_shipment(shipment_request(rid))
    assert active_at_carrier(sandbox, rid) == [info.shipment_id] and info.adopted is False


@pytest.mark.parametrize(("api", "contract"), [("xml", True), ("portal", True), ("xml", False)],
                         ids=["xml-contract", "portal", "xml-noncontract"])
def test_a_hidden_create_with_a_lost_answer_is_bought_once(sandbox, monkeypatch, sleeps, api, contract):
    """The visibility-delay fault: Canada Post bought the label, the answer was lost and the look-up
    right after does not list it. Before issue 12 item 4 the hook POSTed again: two labels."""
    _connect(sandbox, monkeypatch, api, **({} if contract else {"contract_id": ""}))
    rid = crid(api)
    endpoint = "create_shipment" if contract else "create_nc_shipment"
    sandbox.set_faults("canadapost", endpoint, drop_rate=1, visibility_delay_rate=1,
                       visibility_delay_seconds=300, count=1)
    with pytest.raises(CreateInDoubt):
        hook(sleeps).create_shipment(shipment_request(rid))
    store = sandbox.canadapost.store
    with store.lock:
        mine = [sh.shipment_id for sh in store.shipments.values()
                if rid in (sh.customer_request_id, sh.label["customer_ref_1"], sh.label["customer_ref_2"])]
    assert len(mine) == 1  # bought once, never twice
    sandbox.advance(301)
    (found,) = hook(sleeps).find_shipments(customer_request_id=rid)
    assert found.shipment_id == mine[0]


def test_commit_then_drop_on_non_contract_xml(sandbox, monkeypatch, sleeps):
    _connect(sandbox, monkeypatch, "xml", contract_id="")
    rid = crid("nc")
    sandbox.set_faults("canadapost", "create_nc_shipment", drop_rate=1, count=1)
    info = hook(sleeps).create_shipment(shipment_request(rid))
    assert not info.contract and info.customer_request_id == rid
    mine = [sh for sh in sandbox.canadapost.store.shipments.values()
            if sh.kind == "noncontract" and rid in (sh.label["customer_ref_1"], sh.label["customer_ref_2"])]
    assert [sh.shipment_id for sh in mine] == [info.shipment_id]
    assert hook(sleeps).find_shipments(customer_request_id=rid)[0].shipment_id == info.shipment_id


def test_rerun_adopts_the_shipment_of_a_dead_worker(sandbox, api, sleeps):
    rid = crid(api)
    first = hook(sleeps).create_shipment(shipment_request(rid), look_up_first=False)
    again = hook(sleeps).create_shipment(shipment_request(rid))  # a re-run that finds the intent row
    assert again.shipment_id == first.shipment_id
    assert first.adopted is False and again.adopted is True
    assert active_at_carrier(sandbox, rid) == [first.shipment_id]


def test_slm_throttle_on_create_waits_a_minute_and_buys_once(sandbox, api, sleeps):
    rid = crid(api)
    sandbox.set_faults("canadapost", "create_shipment", throttle_rate=1, count=1)
    info = hook(sleeps, throttle_wait=60.0).create_shipment(shipment_request(rid))
    assert max(sleeps) >= 60.0
    assert active_at_carrier(sandbox, rid) == [info.shipment_id]


# --------------------------------------------------------------------------------------------
# reads under faults
# --------------------------------------------------------------------------------------------


@pytest.fixture
def existing(sandbox, api, sleeps):
    return hook(sleeps).create_shipment(shipment_request(crid(api)), look_up_first=False)


@pytest.mark.parametrize(
    "fault",
    [
        {"error_rate": 1, "error_statuses": [500, 502, 503], "count": 3},
        {"hang_rate": 1, "hang_seconds": 3, "count": 1},
        {"malformed_rate": 1, "count": 2},
        {"drop_rate": 1, "count": 1},
    ],
    ids=["5xx-storm", "hang", "malformed", "drop"],
)
def test_get_shipment_survives_faults(sandbox, existing, sleeps, fault):
    sandbox.set_faults("canadapost", "get_shipment", **fault)
    start = mark(sandbox)
    info = hook(sleeps, timeout=(2.0, 0.5)).get_shipment(existing.shipment_id)
    assert info.shipment_id == existing.shipment_id
    assert len(sleeps) == fault["count"]  # one backoff per failed attempt, then success
    # (a hung call is logged by the sandbox only when it ends, so look for the answered one)
    answered = calls(sandbox, "get_shipment", start, until=lambda rs: any(r.outcome == "ok" for r in rs))
    assert [r.outcome for r in answered].count("ok") == 1


def test_throttled_read_waits_at_least_the_slm_block(sandbox, existing, sleeps):
    sandbox.set_faults("canadapost", "get_shipment", throttle_rate=1, count=1)
    assert hook(sleeps, throttle_wait=60.0).get_shipment(existing.shipment_id).shipment_id == existing.shipment_id
    assert sleeps and max(sleeps) >= 60.0


def test_label_not_ready_202_waits_at_least_a_second(sandbox, existing, sleeps):
    sandbox.canadapost.artifact_not_ready_first = True
    start = mark(sandbox)
    began = time.monotonic()
    h = CanadaPostHook(retry_policy=RetryPolicy(max_attempts=4, initial_wait=0.01, max_wait=0.05))
    label, ctype = h.get_label(existing.label_link)
    assert label.startswith(b"%PDF") and ctype == "application/pdf"
    assert time.monotonic() - began >= 1.0
    records = calls(sandbox, "get_artifact", start, until=lambda rs: any(r.status == 200 for r in rs))
    statuses = [r.status for r in records]
    assert statuses[0] == 202 and statuses.count(200) == 1


def test_truncated_label_is_fetched_again(sandbox, existing, sleeps):
    start = mark(sandbox)
    clean, _ = hook(sleeps).get_label(existing.label_link)
    sandbox.set_faults("canadapost", "get_artifact", malformed_rate=1, count=1)  # the PDF cut in half
    label, ctype = hook(sleeps).get_label(existing.label_link)
    assert label == clean and ctype == "application/pdf"
    records = calls(sandbox, "get_artifact", start, until=lambda rs: len(rs) >= 3)
    assert sorted(r.outcome for r in records) == ["fault", "ok", "ok"]


# --------------------------------------------------------------------------------------------
# portal tokens
# --------------------------------------------------------------------------------------------


@pytest.fixture
def portal(sandbox, monkeypatch) -> SandboxHandle:
    _connect(sandbox, monkeypatch, "portal")
    return sandbox


def test_stale_token_gets_401_then_one_refresh_and_one_retry(portal, sleeps):
    h = hook(sleeps)
    info = h.create_shipment(shipment_request(crid("tok")), look_up_first=False)
    portal.canadapost.store.expire_tokens()  # the gateway forgets our token
    start = mark(portal)
    assert h.get_shipment(info.shipment_id).shipment_id == info.shipment_id
    got = [(c.endpoint, c.status) for c in calls(portal, None, start, until=lambda rs: len(rs) >= 3)]
    assert got == [("get_shipment", 401), ("oauth_token", 200), ("get_shipment", 200)]


def test_token_is_refreshed_before_expiry_without_a_401(portal, sleeps):
    now = [0.0]
    h = hook(sleeps, clock=lambda: now[0], token_refresh_margin=300)
    info = h.create_shipment(shipment_request(crid("exp")), look_up_first=False)
    start = mark(portal)
    now[0] += 3600 - 200  # 200 s left: inside the margin
    portal.advance(3600 - 200)
    h.get_shipment(info.shipment_id)
    got = [(c.endpoint, c.status) for c in calls(portal, None, start, until=lambda rs: len(rs) >= 2)]
    assert got == [("oauth_token", 200), ("get_shipment", 200)]


def test_token_is_shared_by_hooks_in_the_process(portal, sleeps):
    start = mark(portal)
    hook(sleeps).track("7000000000000000")
    hook(sleeps).track("7000000000000000")
    records = calls(portal, None, start, until=lambda rs: len(rs) >= 3)
    assert [r.endpoint for r in records].count("oauth_token") == 1
