"""The messaging operators, executed for real: sandbox Mirakl over HTTP, a fresh PostgreSQL DB.

Each test gets its own migrated database (``fresh_db``) and its own sandbox on ephemeral ports;
the operators read both through Airflow Connections (``AIRFLOW_CONN_*`` env vars).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import parse_qs

import psycopg2
import psycopg2.extras
import pytest
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from orderflow.operators.auto_reply import AutoReplyOperator
from orderflow.operators.inbox_sync import SyncMessagesOperator
from orderflow.store import OrderStore
from orderflow.store.messaging import AutoReplyClaim
from sandbox.testing import SandboxHandle, running_sandbox


@pytest.fixture
def sb(fresh_db: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[SandboxHandle]:
    monkeypatch.setenv("AIRFLOW_CONN_ORDERFLOW_DB", fresh_db)
    monkeypatch.setenv("ORDERFLOW_SETTINGS_NO_VARIABLES", "1")
    # Defaults: auto-replies on, no hours rule; tests that need a rule set it.
    monkeypatch.setenv("ORDERFLOW_AUTO_REPLY_ONLY_OUTSIDE_BUSINESS_HOURS", "false")
    monkeypatch.setenv("ORDERFLOW_AUTO_REPLY_FIRST_CONTACT_ONLY", "false")
    with running_sandbox(orders=6, seed=11, with_canadapost=False) as handle:
        for conn_id, value in handle.airflow_conn_uris().items():
            monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", value)
        handle.db_url = fresh_db  # type: ignore[attr-defined]
        yield handle


def q(sb: SandboxHandle, sql: str, params: tuple = ()) -> list[dict]:
    conn = psycopg2.connect(sb.db_url)  # type: ignore[attr-defined]
    try:
        with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
            cur.execute(sql, params)
            return [dict(r) for r in cur.fetchall()]
    finally:
        conn.close()


def sync(run_id: str = "manual__1", **kwargs) -> dict:
    return SyncMessagesOperator(task_id="sync", **kwargs).execute({"run_id": run_id})


def auto_reply(run_id: str = "manual__1", **kwargs) -> dict:
    return AutoReplyOperator(task_id="auto_reply", **kwargs).execute({"run_id": run_id})


def order_ids(sb: SandboxHandle) -> list[str]:
    return sorted(sb.state("mirakl")["orders"])


def new_messages(sb: SandboxHandle, kinds: list[str]) -> list[tuple[str, str]]:
    """One customer message per kind, each in a new thread on its own order."""
    ids = order_ids(sb)
    return [
        sb.mirakl.generate_messages(1, order_id=ids[i % len(ids)], kind=kind, new_thread=True)[0]
        for i, kind in enumerate(kinds)
    ]


def sandbox_thread(sb: SandboxHandle, thread_id: str) -> dict:
    with sb.mirakl.lock:
        return copy.deepcopy(sb.mirakl.threads[thread_id])


def append_message(sb: SandboxHandle, thread_id: str, sender: str, body: str, needs_reply: bool | None) -> str:
    """Add a message to a sandbox thread as Mirakl would show it (operator or shop side)."""
    with sb.mirakl.lock:
        thread = sb.mirakl.threads[thread_id]
        now = sb.mirakl.now()
        msg_id = sb.mirakl._uuid()
        stamp = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        msg = {"id": msg_id, "body": body, "date_created": stamp,
               "from": {"type": sender, "display_name": sender.title()}, "to": [], "attachments": []}
        sb.mirakl._append_message(thread, msg, now)
        if needs_reply is False:
            thread["metadata"]["shop_reply_needed_since"] = None
        return msg_id


def m12_threads(sb: SandboxHandle, since: int = 0) -> list[str]:
    return [c.path.split("/")[4] for c in sb.calls("mirakl", "M12", since) if c.status == 201]


# ------------------------------------------------------------------------------------------------
# sync
# ------------------------------------------------------------------------------------------------
def test_sync_stores_everything_and_second_run_writes_nothing(sb: SandboxHandle) -> None:
    made = new_messages(sb, ["delivery", "return", "damaged", "cancel", "delivery"])
    # More messages in existing threads too.
    sb.mirakl.generate_messages(1, order_id=order_ids(sb)[0], kind="delivery", new_thread=False)

    first = sync()
    state = sb.state("mirakl")["threads"]
    assert first["threads_listed"] == len(state) >= len(made)
    assert first["writes"]["conversations_inserted"] == len(state)
    assert first["writes"]["messages_inserted"] == sum(t["messages"] for t in state.values())
    assert first["threads_fetched"] == 0  # M11 with messages carried them all

    rows = q(sb, "SELECT mirakl_thread_id, order_id, customer_id, topic, reply_needed_since, last_sender_type,"
                 " human_reply_needed_since FROM conversations")
    assert {r["mirakl_thread_id"] for r in rows} == set(state)
    for row in rows:
        thread = sandbox_thread(sb, row["mirakl_thread_id"])
        assert row["order_id"] == thread["entities"][0]["id"]
        assert row["customer_id"] == next(p["id"] for p in thread["current_participants"] if p["type"] == "CUSTOMER")
        assert row["topic"] == thread["topic"]["value"]
        assert row["last_sender_type"] == "CUSTOMER"
        expected = datetime.fromisoformat(thread["metadata"]["shop_reply_needed_since"].replace("Z", "+00:00"))
        assert row["reply_needed_since"] == expected
        assert row["human_reply_needed_since"] == expected
    assert q(sb, "SELECT count(*) AS n FROM customers")[0]["n"] >= 1
    assert {r["sender_type"] for r in q(sb, "SELECT DISTINCT sender_type FROM messages")} == {"CUSTOMER"}

    mark = len(sb.calls("mirakl"))
    second = sync(run_id="manual__2")
    assert all(v == 0 for v in second["writes"].values()), second["writes"]
    calls = sb.calls("mirakl", since=mark)
    assert [c.endpoint for c in calls] == ["M11"]  # overlap re-read only; no M10, no writes
    since = parse_qs(calls[0].query)["updated_since"][0]
    watermark = q(sb, "SELECT value FROM sync_watermarks WHERE name = 'mirakl_threads'")[0]["value"]
    assert datetime.fromisoformat(since.replace("Z", "+00:00")) < watermark  # the overlap


def test_sync_with_m10_details_fetches_only_what_changed(sb: SandboxHandle) -> None:
    made = new_messages(sb, ["delivery", "return", "damaged"])
    first = sync(with_messages=False, max_workers=2)
    assert first["threads_fetched"] == len(sb.state("mirakl")["threads"])
    assert len(sb.calls("mirakl", "M10")) == first["threads_fetched"]

    mark = len(sb.calls("mirakl"))
    assert all(v == 0 for v in sync(with_messages=False)["writes"].values())
    assert sb.calls("mirakl", "M10", since=mark) == []  # every message already held

    thread_id = made[1][0]
    sb.mirakl.generate_messages(1, order_id=sandbox_thread(sb, thread_id)["entities"][0]["id"],
                                kind="delivery", new_thread=False)
    mark = len(sb.calls("mirakl"))
    third = sync(with_messages=False)
    assert third["writes"]["messages_inserted"] == 1
    assert [c.path.rsplit("/", 1)[1] for c in sb.calls("mirakl", "M10", since=mark)] == [thread_id]


def test_hostile_html_long_and_non_latin_bodies_are_stored_byte_exact(sb: SandboxHandle) -> None:
    made = new_messages(sb, ["hostile", "html", "long", "non_latin", "hostile", "non_latin"])
    sync()
    for thread_id, message_id in made:
        expected = next(m["body"] for m in sandbox_thread(sb, thread_id)["messages"] if m["id"] == message_id)
        stored = q(sb, "SELECT body FROM messages WHERE mirakl_message_id = %s", (message_id,))[0]["body"]
        assert stored.encode("utf-8") == expected.encode("utf-8")
    long_body = q(sb, "SELECT max(length(body)) AS n FROM messages")[0]["n"]
    assert long_body > 10_000


def test_malformed_thread_is_reported_and_the_rest_is_stored(sb: SandboxHandle) -> None:
    made = new_messages(sb, ["delivery", "return", "damaged", "cancel"])
    bad_thread, bad_message = made[2]
    with sb.mirakl.lock:
        sb.mirakl.threads[bad_thread]["messages"][-1]["from"]["type"] = "ALIEN_USER"
        sb.mirakl.threads[bad_thread]["messages"][-1]["date_created"] = "yesterday-ish"

    with pytest.raises(AirflowFailException) as excinfo:
        sync()
    assert bad_thread in str(excinfo.value)
    stored = {r["mirakl_thread_id"] for r in q(sb, "SELECT mirakl_thread_id FROM conversations")}
    assert stored == set(sb.state("mirakl")["threads"]) - {bad_thread}
    assert q(sb, "SELECT 1 FROM messages WHERE mirakl_message_id = %s", (bad_message,)) == []

    # Mirakl fixes its payload: the next run (same watermark window) picks the thread up.
    with sb.mirakl.lock:
        msg = sb.mirakl.threads[bad_thread]["messages"][-1]
        msg["from"]["type"] = "CUSTOMER_USER"
        msg["date_created"] = sb.mirakl.threads[bad_thread]["date_updated"]
    report = sync(run_id="manual__2")
    assert report["malformed"] == []
    assert q(sb, "SELECT sender_type FROM messages WHERE mirakl_message_id = %s", (bad_message,)) == [
        {"sender_type": "CUSTOMER"}]


def test_malformed_m10_body_fails_only_that_thread(sb: SandboxHandle) -> None:
    new_messages(sb, ["delivery", "return", "damaged"])
    sb.set_faults("mirakl", "M10", malformed_rate=1, count=1)
    with pytest.raises(AirflowFailException, match="failed permanently"):
        sync(with_messages=False, max_workers=1)
    threads = sb.state("mirakl")["threads"]
    assert len(q(sb, "SELECT 1 FROM conversations c WHERE EXISTS "
                     "(SELECT 1 FROM messages m WHERE m.conversation_id = c.conversation_id)")) == len(threads) - 1
    sync(with_messages=False, run_id="manual__2")  # the fault is gone: everything is there
    assert q(sb, "SELECT count(*) AS n FROM messages")[0]["n"] == sum(t["messages"] for t in threads.values())


# ------------------------------------------------------------------------------------------------
# auto-reply
# ------------------------------------------------------------------------------------------------
def test_every_conversation_needing_a_reply_gets_exactly_one(sb: SandboxHandle) -> None:
    # An order in our DB makes the placeholders order-aware (expected ship date).
    from orderflow.hooks.mirakl import MiraklHook
    from orderflow.hooks.mirakl_records import order_from_payload

    made = new_messages(sb, ["delivery", "return", "hostile", "non_latin", "long"])
    first_order = sandbox_thread(sb, made[0][0])["entities"][0]["id"]
    OrderStore(sb.db_url).upsert_orders(  # type: ignore[attr-defined]
        [order_from_payload(p) for p in MiraklHook().list_orders(order_ids=[first_order])]
    )

    sync()
    needing = {t for t, v in sb.state("mirakl")["threads"].items() if v["shop_reply_needed_since"]}
    assert needing
    report = auto_reply()
    assert report["sent"] == len(needing)
    assert sorted(m12_threads(sb)) == sorted(needing)

    replies = q(sb, """
        SELECT r.body, r.is_auto_reply, r.template_name, r.in_reply_to, r.sender_type, c.mirakl_thread_id,
               c.order_id, c.reply_needed_since, c.human_reply_needed_since, cm.mirakl_message_id AS answered,
               cm.sent_at AS customer_sent_at, a.status
        FROM messages r JOIN conversations c USING (conversation_id)
        JOIN messages cm ON cm.message_id = r.in_reply_to
        JOIN auto_replies a ON a.customer_message_id = r.in_reply_to AND a.reply_message_id = r.message_id""")
    assert len(replies) == len(needing)
    for r in replies:
        assert r["is_auto_reply"] and r["template_name"] == "auto_ack" and r["sender_type"] == "SHOP"
        assert r["status"] == "sent"
        assert r["order_id"] in r["body"] and "{" not in r["body"]
        thread = sandbox_thread(sb, r["mirakl_thread_id"])
        assert thread["messages"][-1]["body"] == r["body"]       # what Mirakl holds is what we recorded
        assert thread["messages"][-2]["id"] == r["answered"]     # in reply to the latest customer message
        # Mirakl's clock stopped; the inbox still shows that a person owes an answer.
        assert r["reply_needed_since"] is None
        assert r["human_reply_needed_since"] == r["customer_sent_at"]
    ordered = next(r for r in replies if r["order_id"] == first_order)
    assert "expected to ship by" in ordered["body"] or "tracking number" in ordered["body"]

    # Second pass (sync + auto-reply): nothing sent, nothing new stored, flags unchanged.
    mark = len(sb.calls("mirakl"))
    second_sync = sync(run_id="manual__2")
    assert second_sync["writes"]["messages_inserted"] == 0
    assert auto_reply(run_id="manual__2")["sent"] == 0
    assert [c for c in sb.calls("mirakl", since=mark) if c.method != "GET"] == []
    assert q(sb, "SELECT count(*) AS n FROM conversations WHERE human_reply_needed_since IS NULL")[0]["n"] == 0

    # The customer writes again before a person answered: acknowledged already, no second bot reply.
    thread_id = made[0][0]
    sb.mirakl.generate_messages(1, order_id=first_order, kind="delivery", new_thread=False)
    sync(run_id="manual__3")
    third = auto_reply(run_id="manual__3")
    assert third["sent"] == 0 and third["skipped"] == {"already_acknowledged": 1}
    assert thread_id not in m12_threads(sb, mark)


def test_never_replies_to_operator_or_shop_messages(sb: SandboxHandle) -> None:
    made = new_messages(sb, ["delivery", "return", "damaged"])
    operator_thread, shop_thread, customer_thread = (t for t, _ in made)
    # The operator wrote last (Mirakl still says the shop owes an answer); a person answered the other.
    append_message(sb, operator_thread, "OPERATOR_USER", "Best Buy here: please answer the customer.", None)
    append_message(sb, shop_thread, "SHOP_USER", "Answered from the Mirakl back office.", False)
    sync()
    report = auto_reply()
    assert m12_threads(sb) == [customer_thread]
    assert report["sent"] == 1
    assert q(sb, "SELECT count(*) AS n FROM auto_replies")[0]["n"] == 1


@pytest.mark.parametrize(
    ("days", "expect_sent"),
    [('[0,1,2,3,4,5,6]', False), ("[]", True)],
    ids=["always-open-no-reply", "always-closed-reply"],
)
def test_only_outside_business_hours(sb: SandboxHandle, monkeypatch: pytest.MonkeyPatch,
                                     days: str, expect_sent: bool) -> None:
    monkeypatch.setenv("ORDERFLOW_AUTO_REPLY_ONLY_OUTSIDE_BUSINESS_HOURS", "true")
    monkeypatch.setenv("ORDERFLOW_BUSINESS_DAYS", days)
    monkeypatch.setenv("ORDERFLOW_BUSINESS_HOURS_START", "00:00")
    monkeypatch.setenv("ORDERFLOW_BUSINESS_HOURS_END", "23:59:59.999999")
    new_messages(sb, ["delivery", "return"])
    sync()
    report = auto_reply()
    if expect_sent:
        assert report["sent"] == 2 and len(m12_threads(sb)) == 2
    else:
        assert report["sent"] == 0 and m12_threads(sb) == []
        assert report["skipped"] == {"inside_business_hours": 2}
        assert {r["status"] for r in q(sb, "SELECT status FROM auto_replies")} == {"skipped"}
        # The ledger remembers the decision: the next run does not re-evaluate these messages.
        assert auto_reply(run_id="manual__2")["candidates"] == 0


def test_first_contact_only(sb: SandboxHandle, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDERFLOW_AUTO_REPLY_FIRST_CONTACT_ONLY", "true")
    made = new_messages(sb, ["delivery", "return"])
    answered_thread, fresh_thread = made[0][0], made[1][0]
    append_message(sb, answered_thread, "SHOP_USER", "A person answered.", False)
    order_id = sandbox_thread(sb, answered_thread)["entities"][0]["id"]
    sb.mirakl.generate_messages(1, order_id=order_id, kind="delivery", new_thread=False)  # customer again
    assert sandbox_thread(sb, answered_thread)["metadata"]["shop_reply_needed_since"]
    sync()
    report = auto_reply()
    assert m12_threads(sb) == [fresh_thread]
    assert report["skipped"] == {"not_first_contact": 1}


def test_crash_after_m12_before_recording_sends_no_second_reply(
    sb: SandboxHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = new_messages(sb, ["delivery", "return"])
    sync()
    real_record_sent = AutoReplyClaim.record_sent
    crashed: list[int] = []

    def crash_once(self: AutoReplyClaim, **kwargs):
        if not crashed:
            crashed.append(self.row["customer_message_id"])
            raise RuntimeError("worker died between the M12 answer and our commit")
        return real_record_sent(self, **kwargs)

    monkeypatch.setattr(AutoReplyClaim, "record_sent", crash_once)
    with pytest.raises(RuntimeError, match="worker died"):
        auto_reply(max_workers=1)
    assert len(m12_threads(sb)) == 2  # both replies reached Mirakl
    assert {r["status"] for r in q(sb, "SELECT status FROM auto_replies")} == {"intent", "sent"}

    monkeypatch.setattr(AutoReplyClaim, "record_sent", real_record_sent)
    mark = len(sb.calls("mirakl"))
    report = auto_reply(run_id="manual__1")  # the Airflow retry
    assert report["adopted"] == 1 and report["sent"] == 0
    assert sb.calls("mirakl", "M12", since=mark) == []
    assert len(sb.calls("mirakl", "M10", since=mark)) == 1  # it looked at the thread first
    rows = q(sb, "SELECT a.status, m.is_auto_reply, m.mirakl_message_id FROM auto_replies a "
                 "JOIN messages m ON m.message_id = a.reply_message_id")
    assert len(rows) == 2 and all(r["status"] == "sent" and r["is_auto_reply"] for r in rows)
    for thread_id, _ in made:
        assert sum(m["from"]["type"] == "SHOP_USER" for m in sandbox_thread(sb, thread_id)["messages"]) == 1
    # A later sync sees the adopted reply as the auto-reply it is (not as a human answer).
    sync(run_id="manual__2")
    assert q(sb, "SELECT count(*) AS n FROM messages WHERE sender_type = 'SHOP' AND NOT is_auto_reply")[0]["n"] == 0
    assert q(sb, "SELECT count(*) AS n FROM conversations WHERE human_reply_needed_since IS NULL")[0]["n"] == 0


def test_dropped_m12_answer_is_resolved_without_a_duplicate(sb: SandboxHandle) -> None:
    new_messages(sb, ["delivery"])
    sync()
    sb.set_faults("mirakl", "M12", drop_rate=1, count=1)  # Mirakl stores the reply, the answer is lost
    with pytest.raises(AirflowException, match="transient"):
        auto_reply()
    assert len(m12_threads(sb)) == 0 and len(sb.calls("mirakl", "M12")) == 1
    report = auto_reply()  # the Airflow retry
    assert report["adopted"] == 1
    assert len(sb.calls("mirakl", "M12")) == 1


def test_an_m12_in_doubt_is_not_sent_again_before_the_recheck_time(
    sb: SandboxHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    ((thread_id, _),) = new_messages(sb, ["delivery"])
    sync()
    sb.set_faults("mirakl", "M12", error_rate=1, error_statuses=[503], count=1)  # Best Buy stored nothing
    with pytest.raises(AirflowException, match="transient"):
        auto_reply()
    # At once (an overlapping run, a quick retry): the thread does not show it, but the doubt is too
    # recent for that to mean "not sent": nothing is sent.
    monkeypatch.setenv("ORDERFLOW_REPLY_RECHECK_SECONDS", "3600")
    with pytest.raises(AirflowException, match="transient"):
        auto_reply(run_id="manual__2")
    assert len(sb.calls("mirakl", "M12")) == 1 and len(sb.calls("mirakl", "M10")) >= 1
    assert q(sb, "SELECT status FROM auto_replies")[0]["status"] == "intent"
    monkeypatch.setenv("ORDERFLOW_REPLY_RECHECK_SECONDS", "0")  # the doubt is old enough now
    report = auto_reply(run_id="manual__3")
    assert report["sent"] == 1 and len(sb.calls("mirakl", "M12")) == 2
    assert sum(m["from"]["type"] == "SHOP_USER" for m in sandbox_thread(sb, thread_id)["messages"]) == 1


def test_permanent_m12_error_is_listed_and_the_rest_goes_on(sb: SandboxHandle) -> None:
    new_messages(sb, ["delivery", "return", "damaged"])
    sync()
    sb.set_faults("mirakl", "M12", error_rate=1, error_statuses=[400], count=1)
    with pytest.raises(AirflowFailException, match="1 auto-reply"):
        auto_reply(max_workers=1)
    assert len(m12_threads(sb)) == 2
    assert q(sb, "SELECT status, error->>'operation' AS op FROM auto_replies WHERE status = 'failed'") == [
        {"status": "failed", "op": "M12"}]
    # A scheduled run (another run id) leaves the failure to a person...
    assert auto_reply(run_id="scheduled__2")["sent"] == 0
    # ...who clears the failed task instance: same run id, the failure is attempted again.
    report = auto_reply(run_id="manual__1")
    assert report["sent"] + report["adopted"] == 1
    assert len(m12_threads(sb)) == 3



def test_overlapping_auto_reply_runs_send_each_reply_once(sb: SandboxHandle) -> None:
    import threading

    made = new_messages(sb, ["delivery", "return", "damaged", "cancel", "delivery", "return"])
    sync()
    sb.set_faults("mirakl", "M12", latency_ms=50)  # keep both runs inside their M12 calls together
    errors: list[BaseException] = []

    def run(run_id: str) -> None:
        try:
            auto_reply(run_id=run_id, max_workers=3)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    workers = [threading.Thread(target=run, args=(f"scheduled__{i}",)) for i in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    assert errors == []
    assert sorted(m12_threads(sb)) == sorted(t for t, _ in made)
    assert q(sb, "SELECT count(*) AS n FROM messages WHERE is_auto_reply")[0]["n"] == len(made)


# ------------------------------------------------------------------------------------------------
# errors about the Connection: the task fails naming it; no thread or message is recorded failed
# ------------------------------------------------------------------------------------------------
def _wrong_api_key(sb: SandboxHandle, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    conn = json.loads(sb.airflow_conn_uris()["mirakl_default"])
    conn["password"] = "wrong-" + conn["password"]
    monkeypatch.setenv("AIRFLOW_CONN_MIRAKL_DEFAULT", json.dumps(conn))


def test_refused_credentials_fail_the_sync_and_store_nothing(sb: SandboxHandle, monkeypatch) -> None:
    from orderflow.operators.errors import ConfigurationError

    new_messages(sb, ["delivery", "return"])
    _wrong_api_key(sb, monkeypatch)
    with pytest.raises(ConfigurationError, match="mirakl_default"):
        sync()
    assert q(sb, "SELECT count(*) AS n FROM conversations")[0]["n"] == 0
    assert q(sb, "SELECT count(*) AS n FROM sync_watermarks")[0]["n"] == 0


def test_refused_credentials_fail_the_auto_reply_task_not_the_messages(sb: SandboxHandle, monkeypatch) -> None:
    from orderflow.operators.errors import ConfigurationError

    made = new_messages(sb, ["delivery", "return"])
    sync()
    _wrong_api_key(sb, monkeypatch)
    with pytest.raises(ConfigurationError, match="mirakl_default"):
        auto_reply(max_workers=1)
    assert m12_threads(sb) == []
    # M12 applied nothing: the rows stay intents, never failed, with no attempt counted.
    assert {(r["status"], r["attempts"]) for r in q(sb, "SELECT status, attempts FROM auto_replies")} == {
        ("intent", 0)}

    # The Connection is fixed; a scheduled run (another run id) sends each reply once.
    monkeypatch.setenv("AIRFLOW_CONN_MIRAKL_DEFAULT", sb.airflow_conn_uris()["mirakl_default"])
    report = auto_reply(run_id="scheduled__2")
    assert report["sent"] == len(made)
    assert sorted(m12_threads(sb)) == sorted(t for t, _ in made)
