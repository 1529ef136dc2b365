"""The customer-service inbox through the whole Airflow app: list, conversation, escaping, replies."""

from __future__ import annotations

import re
from datetime import timedelta

from tests.views.conftest import sync_sandbox_thread

CANARY = "<script>window.__pwned = 1</script><img src=x onerror=\"window.__pwned = 2\">"


def test_list_puts_waiting_conversations_first_with_age_against_the_target(client_for, make_conversation):
    answered = make_conversation(["Thanks, all good"], waiting_for=None, customer_name="Ann Answered")
    old = make_conversation(["Where is it?"], waiting_for=timedelta(days=6), customer_name="Olga Oldest")
    new = make_conversation(["Hello?"], waiting_for=timedelta(minutes=1), customer_name="Nina Newest")
    agent = client_for("agent")

    waiting = agent.get("/orderflow/inbox/").text
    assert "Olga Oldest" in waiting and "Nina Newest" in waiting
    assert "Ann Answered" not in waiting  # "needs reply" is the default filter
    assert waiting.index("Olga Oldest") < waiting.index("Nina Newest")
    old_row = waiting[waiting.rindex("<tr", 0, waiting.index("Olga Oldest")) : waiting.index("Olga Oldest")]
    # Six calendar days hold more than one business day whatever the weekday: late.
    assert 'class="age-late"' in old_row and "LATE" in old_row

    everything = agent.get("/orderflow/inbox/", params={"filter": "all"}).text
    assert everything.index("Nina Newest") < everything.index("Ann Answered")
    counts = {m.group(1): int(m.group(2)) for m in re.finditer(r'id="count-([a-z-]+)">(\d+)<', everything)}
    assert counts["all"] >= 3 and 2 <= counts["needs-reply"] < counts["all"]
    for conversation_id in (answered, old, new):
        assert f"/orderflow/inbox/conversations/{conversation_id}" in everything


def test_filter_by_order_and_hostile_order_ids(client_for, make_conversation, views_sql):
    mine = make_conversation(["About my order"], order_id="ORD-FILTER-1", customer_name="Fiona Filter")
    make_conversation(["Other"], order_id="ORD-OTHER-2", customer_name="Otto Other")
    agent = client_for("agent")
    html = agent.get("/orderflow/inbox/", params={"order_id": "ORD-FILTER-1"}).text
    assert "Fiona Filter" in html and "Otto Other" not in html
    assert f"/orderflow/inbox/conversations/{mine}" in html
    for hostile in ("' OR '1'='1", "ORD-FILTER-1' --", "'; DELETE FROM conversations; --"):
        resp = agent.get("/orderflow/inbox/", params={"order_id": hostile})
        assert resp.status_code == 200
        assert "Fiona Filter" not in resp.text and "Otto Other" not in resp.text
    with views_sql.cursor() as cur:
        cur.execute("SELECT count(*) FROM conversations WHERE order_id IN ('ORD-FILTER-1', 'ORD-OTHER-2')")
        assert cur.fetchone()[0] == 2
    # Non-numeric conversation ids never reach SQL.
    assert agent.get("/orderflow/inbox/conversations/1%20OR%201=1").status_code == 422


def test_customer_text_is_escaped_long_messages_fold_auto_replies_are_marked(client_for, make_conversation):
    long_text = "Paragraph one. " * 200 + "THE-END-MARKER"
    conversation_id = make_conversation(
        [CANARY, long_text], customer_name="<b>Bold</b> Name", auto_reply="We got your message (automatic)."
    )
    agent = client_for("agent")
    html = agent.get(f"/orderflow/inbox/conversations/{conversation_id}").text
    assert "<script>window.__pwned" not in html
    assert "<img src=x" not in html
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in html
    assert "<b>Bold</b>" not in html and "&lt;b&gt;Bold&lt;/b&gt;" in html
    # The long message: a preview, the whole text behind a <details> fold.
    assert re.search(r"<details class=\"fold\"><summary>Show the whole message \(\d+ characters\)", html)
    assert html.count("THE-END-MARKER") == 1
    assert "AUTO-REPLY" in html
    listing = agent.get("/orderflow/inbox/", params={"filter": "all"}).text
    assert "<script>window.__pwned" not in listing and "<b>Bold</b>" not in listing


def test_conversation_shows_order_status_history_lines_and_tracking_link(client_for, make_order, make_conversation):
    order_id = make_order([("AUD-NCH-700", 1)])
    conversation_id = make_conversation(["Has it shipped?"], order_id=order_id, customer_name="Jordan Tremblay")
    html = client_for("agent").get(f"/orderflow/inbox/conversations/{conversation_id}").text
    pin = re.search(r"<code>(7\d{15})</code>", html).group(1)
    assert f"https://www.canadapost-postescanada.ca/track-reperage/en#/resultList?searchFor={pin}" in html
    assert "label created" in html and "accepted" in html  # status and history
    assert "AUD-NCH-700" in html
    # Templates come with their placeholders filled for this conversation.
    assert f"Your order {order_id} is being prepared for shipping." in html.replace("&#39;", "'")
    assert "{customer_name}" not in html and "Hello Jordan," in html


def test_the_order_history_shows_a_partial_cancelation_with_who_why_and_which_units(
        client_for, make_order, make_conversation, views_store):
    order_id = make_order([("AUD-NCH-700", 3)])
    line_id = views_store.get_order(order_id)["lines"][0]["order_line_id"]
    views_store.record_order_event(order_id, "lines_canceled", actor="packer1", detail={
        "reason_code": "OUT_OF_STOCK", "reason_label": "Out of stock <b>now</b>",
        "lines": [{"order_line_id": line_id, "quantity": 2}], "note": "two units short"})
    conversation_id = make_conversation(["Where is the rest?"], order_id=order_id)
    html = client_for("agent").get(f"/orderflow/inbox/conversations/{conversation_id}").text
    history = html[html.index('<ol class="history">'):]
    history = history[:history.index("</ol>")]
    assert "label created" in history
    assert "2 × line " + line_id in history and "canceled" in history and "packer1" in history
    assert "Out of stock &lt;b&gt;now&lt;/b&gt; (OUT_OF_STOCK)" in history and "two units short" in history


def test_reply_goes_through_mirakl_and_clears_needs_reply(client_for, mirakl_env, views_store, views_sql):
    sandbox = mirakl_env
    thread_id, _ = sandbox.generate_messages(1, new_thread=True)[0]
    conversation_id = sync_sandbox_thread(views_store, sandbox, thread_id)
    agent = client_for("agent")
    page = agent.get(f"/orderflow/inbox/conversations/{conversation_id}")
    since = len(sandbox.calls("mirakl"))
    body = "Hello, your order is on its way. <b>not markup</b>"
    resp = agent.post(
        f"/orderflow/inbox/conversations/{conversation_id}/reply",
        data={**_form(page.text), "body": body, "template_name": "where_is_my_order"},
    )
    assert resp.status_code == 303, resp.text[:1000]
    m12 = [c for c in sandbox.calls("mirakl", since=since) if c.endpoint == "M12"]
    assert len(m12) == 1 and m12[0].status in (200, 201) and thread_id in m12[0].path
    with views_sql.cursor() as cur:
        cur.execute(
            "SELECT sender_type, sent_by, sender_name, template_name, body, is_auto_reply FROM messages"
            " WHERE conversation_id = %s ORDER BY sent_at DESC, message_id DESC LIMIT 1",
            (conversation_id,),
        )
        assert cur.fetchone() == ("SHOP", "agent", "Alex Agent", "where_is_my_order", body, False)
        cur.execute("SELECT human_reply_needed_since FROM conversations WHERE conversation_id = %s",
                    (conversation_id,))
        assert cur.fetchone()[0] is None
    after = agent.get(resp.headers["location"]).text
    assert "Reply sent to the customer." in after
    assert "&lt;b&gt;not markup&lt;/b&gt;" in after


def test_a_failed_send_keeps_the_typed_text_and_changes_nothing(client_for, mirakl_env, views_store, views_sql):
    sandbox = mirakl_env
    thread_id, _ = sandbox.generate_messages(1, new_thread=True)[0]
    conversation_id = sync_sandbox_thread(views_store, sandbox, thread_id)
    agent = client_for("agent")
    page = agent.get(f"/orderflow/inbox/conversations/{conversation_id}")
    sandbox.set_faults("mirakl", "M12", error_rate=1.0, error_statuses=[400], count=1)
    typed = "A carefully typed answer that must not be lost & <kept>."
    resp = agent.post(
        f"/orderflow/inbox/conversations/{conversation_id}/reply",
        data={**_form(page.text), "body": typed},
    )
    assert resp.status_code == 502
    assert "Not sent: Best Buy refused the reply (HTTP 400)" in resp.text
    assert "A carefully typed answer that must not be lost &amp; &lt;kept&gt;." in resp.text  # in the textarea
    with views_sql.cursor() as cur:
        cur.execute("SELECT count(*) FROM messages WHERE conversation_id = %s AND sender_type = 'SHOP'",
                    (conversation_id,))
        assert cur.fetchone()[0] == 0
        cur.execute("SELECT human_reply_needed_since IS NOT NULL FROM conversations WHERE conversation_id = %s",
                    (conversation_id,))
        assert cur.fetchone()[0] is True
    # The agent leaves and comes back: the text (and its key) is still there, with what happened.
    back = agent.get(f"/orderflow/inbox/conversations/{conversation_id}").text
    assert "A carefully typed answer that must not be lost &amp; &lt;kept&gt;." in back
    assert "Not sent" in back and _form(back)["reply_key"] == _form(resp.text)["reply_key"]


def test_too_short_reply_is_refused_with_the_text_kept(client_for, make_conversation):
    conversation_id = make_conversation(["Hi"])
    agent = client_for("agent")
    page = agent.get(f"/orderflow/inbox/conversations/{conversation_id}")
    resp = agent.post(f"/orderflow/inbox/conversations/{conversation_id}/reply",
                      data={**_form(page.text), "body": " k "})
    assert resp.status_code == 400 and "too short" in resp.text


# -- issue 12 item 5: replies exactly once; issue 16 item 3: no server text on the page ------------------
def _form(html: str) -> dict[str, str]:
    """The reply form's hidden fields as the page rendered them (what a browser resubmits)."""
    form = html[html.index('id="reply-form"'):]
    form = form[: form.index("</form>")]
    hidden = re.finditer(r'<input type="hidden" name="([a-z_]+)"[^>]*value="([^"]*)"', form)
    return {m.group(1): m.group(2) for m in hidden}


def _shop_messages(sandbox, thread_id: str, body: str) -> int:
    with sandbox.mirakl.lock:
        messages = list(sandbox.mirakl.threads[thread_id]["messages"])
    return sum(1 for m in messages if m["from"]["type"] == "SHOP_USER" and m["body"] == body)


def test_a_dropped_answer_then_a_resubmit_sends_the_customer_one_message(client_for, mirakl_env, views_store,
                                                                         views_sql):
    sandbox = mirakl_env
    thread_id, _ = sandbox.generate_messages(1, new_thread=True)[0]
    conversation_id = sync_sandbox_thread(views_store, sandbox, thread_id)
    agent = client_for("agent")
    form = _form(agent.get(f"/orderflow/inbox/conversations/{conversation_id}").text)
    typed = "Your parcel left our warehouse this morning."
    since = len(sandbox.calls("mirakl"))
    sandbox.set_faults("mirakl", "M12", drop_rate=1, count=1)  # Best Buy stores it, the answer is lost
    first = agent.post(f"/orderflow/inbox/conversations/{conversation_id}/reply", data={**form, "body": typed})
    assert first.status_code == 502
    assert "your text is kept" in first.text.lower() and typed in first.text
    assert _shop_messages(sandbox, thread_id, typed) == 1
    # The agent presses Send again on the page the failure showed (same form, same key).
    again = agent.post(f"/orderflow/inbox/conversations/{conversation_id}/reply",
                       data={**_form(first.text), "body": typed})
    assert again.status_code == 303, again.text[:2000]
    # ... and the browser resubmits the very first form once more.
    third = agent.post(f"/orderflow/inbox/conversations/{conversation_id}/reply", data={**form, "body": typed})
    assert third.status_code == 303
    assert _shop_messages(sandbox, thread_id, typed) == 1
    assert len([c for c in sandbox.calls("mirakl", since=since) if c.endpoint == "M12"]) == 1
    with views_sql.cursor() as cur:
        cur.execute("SELECT count(*) FROM messages WHERE conversation_id = %s AND sender_type = 'SHOP' AND body = %s",
                    (conversation_id, typed))
        assert cur.fetchone()[0] == 1
    assert "Reply sent to the customer." in agent.get(third.headers["location"]).text


def test_the_page_after_a_failure_shows_a_short_message_and_a_reference_never_the_server_text(
    client_for, make_conversation, monkeypatch
):
    from tests.hooks.conftest import Reply, ScriptedServer

    echo = "Dear Jordan Tremblay of 123 Secret Street"
    server = ScriptedServer()
    try:
        # A Mirakl (or a proxy in front of it) whose error answer echoes the submitted text.
        server.reply(Reply(400, {"message": f"Invalid message '{echo}'", "status": 400}))
        monkeypatch.setenv("AIRFLOW_CONN_MIRAKL_DEFAULT",
                           f'{{"conn_type": "mirakl", "host": "{server.url}", "password": "k-123"}}')
        conversation_id = make_conversation(["Where is my parcel?"])
        agent = client_for("agent")
        form = _form(agent.get(f"/orderflow/inbox/conversations/{conversation_id}").text)
        resp = agent.post(f"/orderflow/inbox/conversations/{conversation_id}/reply",
                          data={**form, "body": f"{echo}, your parcel is on its way."})
    finally:
        server.close()
    assert resp.status_code == 502
    error = re.search(r'id="reply-error"[^>]*>(.*?)</p>', resp.text, re.S).group(1)
    assert "Secret Street" not in error and "Invalid message" not in error and "MiraklBadRequestError" not in error
    assert re.search(r"Reference R-[A-Za-z0-9_-]{8}-\d", error)
    assert "HTTP 400" in error


def test_the_same_form_posted_twice_concurrently_sends_one_message(client_for, mirakl_env, views_store):
    import threading

    sandbox = mirakl_env
    thread_id, _ = sandbox.generate_messages(1, new_thread=True)[0]
    conversation_id = sync_sandbox_thread(views_store, sandbox, thread_id)
    form = _form(client_for("agent").get(f"/orderflow/inbox/conversations/{conversation_id}").text)
    typed = "Two tabs, one click each: one reply."
    since = len(sandbox.calls("mirakl"))
    sandbox.set_faults("mirakl", "M12", latency_ms=1500, count=2)  # the posts overlap the one M12
    start = threading.Barrier(2)
    statuses: list[int] = []

    def post() -> None:
        agent = client_for("agent")
        start.wait()
        resp = agent.post(f"/orderflow/inbox/conversations/{conversation_id}/reply", data={**form, "body": typed})
        statuses.append(resp.status_code)

    workers = [threading.Thread(target=post) for _ in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=60)
    sandbox.clear_faults("mirakl")
    assert statuses == [303, 303]
    assert _shop_messages(sandbox, thread_id, typed) == 1
    assert len([c for c in sandbox.calls("mirakl", since=since) if c.endpoint == "M12"]) == 1
