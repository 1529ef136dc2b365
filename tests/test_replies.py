"""Agents' replies exactly once (orderflow.replies, issue 12 item 5): the real order store on PostgreSQL,
the real Mirakl hook over HTTP to the sandbox, faults included. Counts are read at the sandbox."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from orderflow import replies
from orderflow.hooks._http import RetryPolicy
from orderflow.hooks.mirakl import MiraklHook
from orderflow.hooks.mirakl_records import thread_from_payload
from orderflow.store import OrderStore
from sandbox.testing import SandboxHandle, running_sandbox

FAST = RetryPolicy(max_attempts=3, max_total_seconds=5.0, initial_wait=0.01, max_wait=0.05)


@pytest.fixture(scope="module")
def sb() -> Iterator[SandboxHandle]:
    with running_sandbox(orders=3, seed=21, with_canadapost=False) as handle:
        yield handle


@pytest.fixture
def env(sb: SandboxHandle, monkeypatch: pytest.MonkeyPatch) -> SandboxHandle:
    for conn_id, value in sb.airflow_conn_uris().items():
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", value)
    sb.clear_faults("mirakl")  # none left over from another test
    return sb


@pytest.fixture
def store(order_db_url: str) -> Iterator[OrderStore]:
    s = OrderStore(order_db_url)
    yield s
    s.close()


@pytest.fixture
def hook(env: SandboxHandle) -> Iterator[MiraklHook]:
    h = MiraklHook(retry_policy=FAST)
    yield h
    h.close()


def conversation(sb: SandboxHandle, store: OrderStore, hook: MiraklHook) -> tuple[int, str]:
    """A new customer thread at the sandbox, synced into the store; (conversation id, thread id)."""
    thread_id, _ = sb.generate_messages(1, new_thread=True)[0]
    counts = store.upsert_threads([thread_from_payload(hook.get_thread(thread_id))])
    return counts.conversation_ids[thread_id], thread_id


def shop_messages(sb: SandboxHandle, thread_id: str, body: str | None = None) -> list[dict]:
    with sb.mirakl.lock:
        messages = list(sb.mirakl.threads[thread_id]["messages"])
    return [m for m in messages if m["from"]["type"] == "SHOP_USER" and (body is None or m["body"] == body)]


def m12_calls(sb: SandboxHandle, since: int) -> list:
    return [c for c in sb.calls("mirakl", since=since) if c.endpoint == "M12"]


def send(
    store: OrderStore, hook: MiraklHook, key: str, conversation_id: int, body: str, **kwargs
) -> replies.ReplyOutcome:
    kwargs.setdefault("recheck_seconds", 0.0)
    return replies.send_agent_reply(store, hook, reply_key=key, conversation_id=conversation_id, body=body,
                                    agent="agent", agent_name="Alex Agent", **kwargs)


def test_a_clean_send_then_a_resubmit_is_one_message(env, store, hook):
    conversation_id, thread_id = conversation(env, store, hook)
    key, since = replies.new_reply_key(), len(env.calls("mirakl"))
    first = send(store, hook, key, conversation_id, "Your order ships today.\r\n")
    assert first.state == "sent" and first.mirakl_message_id
    second = send(store, hook, key, conversation_id, "Your order ships today.")
    assert second.state == "already_sent" and second.mirakl_message_id == first.mirakl_message_id
    assert len(m12_calls(env, since)) == 1 and len(shop_messages(env, thread_id)) == 1
    row = store.agent_reply(key)
    assert row["status"] == "sent" and row["attempts"] == 1 and row["message_id"] is not None


def test_dropped_answer_after_the_sandbox_committed_then_a_resubmit(env, store, hook):
    conversation_id, thread_id = conversation(env, store, hook)
    key, since = replies.new_reply_key(), len(env.calls("mirakl"))
    text = "We have shipped your parcel with Canada Post."
    env.set_faults("mirakl", "M12", drop_rate=1, count=1)
    first = send(store, hook, key, conversation_id, text)
    assert first.state == "checking" and first.body == text and first.reference
    assert store.agent_reply(key)["status"] == "unknown"
    again = send(store, hook, key, conversation_id, text)
    assert again.state == "sent" and again.adopted
    assert send(store, hook, key, conversation_id, text).state == "already_sent"
    assert len(shop_messages(env, thread_id, text)) == 1
    assert len(m12_calls(env, since)) == 1
    assert store.agent_reply(key)["mirakl_message_id"] == shop_messages(env, thread_id, text)[0]["id"]


@pytest.mark.parametrize("after_commit", [False, True])
def test_a_5xx_storm_never_sends_twice(env, store, hook, after_commit):
    conversation_id, thread_id = conversation(env, store, hook)
    key, since = replies.new_reply_key(), len(env.calls("mirakl"))
    text = f"Sorry for the wait (storm {after_commit})."
    env.set_faults("mirakl", "M12", error_rate=1, error_statuses=[500, 502, 503], error_after_commit=after_commit,
                   count=4)
    outcomes = [send(store, hook, key, conversation_id, text) for _ in range(4)]
    env.clear_faults("mirakl")
    final = send(store, hook, key, conversation_id, text)
    assert final.delivered
    assert len(shop_messages(env, thread_id, text)) == 1
    if after_commit:
        # The first 5xx came after Best Buy stored it: every later submit finds it, none sends.
        assert outcomes[0].state == "checking" and outcomes[1].state == "sent" and outcomes[1].adopted
        assert len(m12_calls(env, since)) == 1
    else:
        # Each 5xx stored nothing: each resubmit reads the thread, finds nothing, sends once more.
        assert [o.state for o in outcomes] == ["checking"] * 4 and final.state == "sent"
        assert len(m12_calls(env, since)) == 5
        assert store.agent_reply(key)["attempts"] == 5


def test_nothing_is_resent_before_the_recheck_time(env, store, hook):
    conversation_id, thread_id = conversation(env, store, hook)
    key, since = replies.new_reply_key(), len(env.calls("mirakl"))
    text = "Checking on your parcel now."
    env.set_faults("mirakl", "M12", error_rate=1, error_statuses=[503], count=1)
    assert send(store, hook, key, conversation_id, text, recheck_seconds=3600).state == "checking"
    early = send(store, hook, key, conversation_id, text, recheck_seconds=3600)
    assert early.state == "checking" and "checked again" in early.reason
    assert len(m12_calls(env, since)) == 1 and store.agent_reply(key)["checked_at"] is not None
    assert send(store, hook, key, conversation_id, text, recheck_seconds=0).state == "sent"
    assert len(shop_messages(env, thread_id, text)) == 1


def test_the_same_key_posted_twice_concurrently_is_one_m12(env, store, hook):
    conversation_id, thread_id = conversation(env, store, hook)
    key, since = replies.new_reply_key(), len(env.calls("mirakl"))
    text = "Thanks for your patience."
    env.set_faults("mirakl", "M12", latency_ms=1500, count=2)  # both submits overlap the one call
    start = threading.Barrier(2)
    outcomes: list[replies.ReplyOutcome] = []

    def submit() -> None:
        h = MiraklHook(retry_policy=FAST)
        try:
            start.wait()
            outcomes.append(send(store, h, key, conversation_id, text))
        finally:
            h.close()

    workers = [threading.Thread(target=submit) for _ in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=60)
    assert sorted(o.state for o in outcomes) == ["already_sent", "sent"]
    assert len(m12_calls(env, since)) == 1 and len(shop_messages(env, thread_id, text)) == 1


def test_a_request_that_died_after_m12_is_found_not_resent(env, store, hook):
    conversation_id, thread_id = conversation(env, store, hook)
    key, since = replies.new_reply_key(), len(env.calls("mirakl"))
    text = "A reply whose request died after Best Buy took it."
    # The dead request: intent committed with a lease that has run out, M12 made, nothing recorded.
    claim = store.claim_agent_reply(reply_key=key, conversation_id=conversation_id, body=text, agent="agent",
                                    lease_seconds=0)
    assert claim.action == "send"
    customer_id = store.inbox_conversation(conversation_id)["customer_id"]
    hook.reply_to_thread(thread_id, text, customer_id)
    outcome = send(store, hook, key, conversation_id, text)
    assert outcome.state == "sent" and outcome.adopted
    assert len(m12_calls(env, since)) == 1 and len(shop_messages(env, thread_id, text)) == 1


def test_an_edited_resubmit_after_a_doubt_does_not_send_the_edit_when_the_first_text_arrived(env, store, hook):
    conversation_id, thread_id = conversation(env, store, hook)
    key = replies.new_reply_key()
    env.set_faults("mirakl", "M12", drop_rate=1, count=1)
    assert send(store, hook, key, conversation_id, "First wording of the reply.").state == "checking"
    outcome = send(store, hook, key, conversation_id, "Second, edited wording.")
    assert outcome.delivered and outcome.unsent_body == "Second, edited wording."
    assert [m["body"] for m in shop_messages(env, thread_id)] == ["First wording of the reply."]


def test_a_refusal_keeps_the_text_and_a_resubmit_sends_it(env, store, hook):
    conversation_id, thread_id = conversation(env, store, hook)
    key = replies.new_reply_key()
    env.set_faults("mirakl", "M12", error_rate=1, error_statuses=[400], count=1)
    refused = send(store, hook, key, conversation_id, "Refused once, then sent.")
    assert refused.state == "not_sent" and "HTTP 400" in refused.reason
    assert store.open_agent_reply(conversation_id, "agent")["body"] == "Refused once, then sent."
    assert send(store, hook, key, conversation_id, "Refused once, then sent.").state == "sent"
    assert store.open_agent_reply(conversation_id, "agent") is None
    assert len(shop_messages(env, thread_id)) == 1


def test_a_key_made_for_another_conversation_is_refused(env, store, hook):
    first, _ = conversation(env, store, hook)
    other, other_thread = conversation(env, store, hook)
    key = replies.new_reply_key()
    assert send(store, hook, key, first, "Meant for the first customer.").state == "sent"
    with pytest.raises(replies.ReplyKeyMismatch):
        send(store, hook, key, other, "Meant for the first customer.")
    assert shop_messages(env, other_thread) == []


def test_a_page_view_reads_back_and_never_sends(env, store, hook):
    conversation_id, thread_id = conversation(env, store, hook)
    key, since = replies.new_reply_key(), len(env.calls("mirakl"))
    env.set_faults("mirakl", "M12", error_rate=1, error_statuses=[502], count=1)  # nothing stored
    assert send(store, hook, key, conversation_id, "Not stored by Best Buy.").state == "checking"
    checked = replies.check_agent_reply(store, hook, reply_key=key, conversation_id=conversation_id)
    assert checked.state == "checking" and len(m12_calls(env, since)) == 1
    assert shop_messages(env, thread_id) == []


# -- the matcher (pure) ------------------------------------------------------------------------------
def _msg(mid: str, body: str, at: datetime, kind: str = "SHOP_USER") -> dict:
    return {"id": mid, "body": body, "from": {"type": kind},
            "date_created": at.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"}


def test_find_reply_in_thread_matches_text_time_and_unclaimed_ids_only():
    now = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
    thread = {"messages": [
        _msg("old", "Thanks!", now - timedelta(days=2)),
        _msg("cust", "Thanks!", now, kind="CUSTOMER_USER"),
        _msg("mine-before", "Thanks!", now + timedelta(seconds=1)),
        _msg("mine", "Thanks!\n", now + timedelta(seconds=2)),
    ]}
    found = replies.find_reply_in_thread(thread, "Thanks!", not_before=now, claimed={"mine-before"})
    assert found["id"] == "mine"
    assert replies.find_reply_in_thread(thread, "Thanks!", not_before=now, claimed={"mine-before", "mine"}) is None
    assert replies.find_reply_in_thread(thread, "Other text", not_before=now, claimed=set()) is None
