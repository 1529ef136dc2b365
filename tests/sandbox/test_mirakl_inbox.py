"""Mirakl sandbox, inbox side: M11, M10, M12, OR43 and shop_reply_needed_since."""

from __future__ import annotations

from sandbox.mirakl.wire import iso
from sandbox.openapi import validate_mirakl


def _customer(thread: dict) -> dict:
    return next(p for p in thread["authorized_participants"] if p["type"] == "CUSTOMER")


def test_customer_message_needs_a_reply_until_the_shop_answers(sandbox, client):
    order_id = client.orders()[0]["order_id"]
    ((thread_id, _),) = sandbox.generate_messages(1, order_id=order_id, kind="delivery")
    resp = client.get(f"/api/inbox/threads/{thread_id}")
    validate_mirakl("/api/inbox/threads/{thread_id}", "GET", 200, resp.json())
    thread = resp.json()
    assert thread["entities"] == [{"id": order_id, "type": "MMP_ORDER", "label": order_id[:-2]}]
    assert thread["metadata"]["shop_reply_needed_since"] == thread["messages"][0]["date_created"]
    assert thread["messages"][0]["from"]["type"] == "CUSTOMER_USER"
    assert client.order(order_id)["has_customer_message"] is True

    reply = {"body": "Your order ships today.", "to": [{"type": "CUSTOMER", "id": _customer(thread)["id"]}]}
    validate_mirakl("/api/inbox/threads/{thread_id}/message", "POST", 201, {"message_input": reply}, kind="request")
    resp = client.post_part(f"/api/inbox/threads/{thread_id}/message", "message_input", reply)
    assert resp.status_code == 201, resp.text
    validate_mirakl("/api/inbox/threads/{thread_id}/message", "POST", 201, resp.json())
    assert resp.json()["thread_id"] == thread_id

    answered = client.get(f"/api/inbox/threads/{thread_id}").json()
    assert answered["metadata"]["shop_reply_needed_since"] is None
    assert answered["metadata"]["total_count"] == 2
    assert answered["messages"][-1]["id"] == resp.json()["message_id"]
    assert answered["messages"][-1]["from"]["type"] == "SHOP_USER"
    assert answered["messages"][-1]["to"][0]["type"] == "CUSTOMER"

    # The customer writes again: a reply is needed since that new message.
    sandbox.generate_messages(1, order_id=order_id, kind="return", new_thread=False)
    again = client.get(f"/api/inbox/threads/{thread_id}").json()
    assert again["metadata"]["shop_reply_needed_since"] == again["messages"][-1]["date_created"]


def test_m12_rejects_bad_replies(sandbox, client):
    ((thread_id, _),) = sandbox.generate_messages(1)
    path = f"/api/inbox/threads/{thread_id}/message"
    thread = client.get(f"/api/inbox/threads/{thread_id}").json()
    to = [{"type": "CUSTOMER", "id": _customer(thread)["id"]}]
    assert client.post_part(path, "message_input", {"body": "x" * 50_001, "to": to}).status_code == 400
    assert client.post_part(path, "message_input", {"body": "x" * 50_000, "to": to}).status_code == 201
    assert client.post_part(path, "message_input", {"body": "hello", "to": []}).status_code == 400
    assert client.post_part(path, "message_input", {"body": "hello"}).status_code == 400
    stranger = [{"type": "CUSTOMER", "id": "someone-else"}]
    assert client.post_part(path, "message_input", {"body": "hello", "to": stranger}).status_code == 400
    assert client.post_part(path, "wrong_part", {"body": "hello", "to": to}).status_code == 400
    json_body = client.session.post(client.base + path, json={"body": "hello", "to": to})
    assert json_body.status_code == 415  # multipart only
    missing = client.post_part("/api/inbox/threads/00000000-0000-0000-0000-000000000000/message",
                               "message_input", {"body": "hello", "to": to})
    assert missing.status_code == 404
    assert client.get("/api/inbox/threads/00000000-0000-0000-0000-000000000000").status_code == 404


def test_or43_creates_a_thread_on_an_order(client):
    order_id = client.orders()[0]["order_id"]
    thread_input = {"body": "Your order is on its way.", "to": ["CUSTOMER"],
                    "topic": {"type": "FREE_TEXT", "value": "Shipping update"}}
    validate_mirakl("/api/orders/{order_id}/threads", "POST", 201, {"thread_input": thread_input}, kind="request")
    resp = client.post_part(f"/api/orders/{order_id}/threads", "thread_input", thread_input)
    assert resp.status_code == 201, resp.text
    validate_mirakl("/api/orders/{order_id}/threads", "POST", 201, resp.json())
    thread = client.get(f"/api/inbox/threads/{resp.json()['thread_id']}").json()
    assert thread["topic"] == {"type": "FREE_TEXT", "value": "Shipping update"}
    assert thread["metadata"]["shop_reply_needed_since"] is None
    assert thread["messages"][0]["body"] == "Your order is on its way."
    assert client.post_part("/api/orders/1-A/threads", "thread_input", thread_input).status_code == 404
    no_topic = {"body": "Hello there", "to": ["CUSTOMER"]}
    assert client.post_part(f"/api/orders/{order_id}/threads", "thread_input", no_topic).status_code == 400


def test_m11_seek_pagination_and_filters(sandbox, client):
    orders = client.orders(max=100)
    sandbox.generate_messages(7, order_id=orders[0]["order_id"], new_thread=True)
    sandbox.generate_messages(3, order_id=orders[1]["order_id"], new_thread=True)

    seen, token, pages = [], None, 0
    while True:
        params = {"limit": 4} | ({"page_token": token} if token else {})
        body = client.get("/api/inbox/threads", **params).json()
        validate_mirakl("/api/inbox/threads", "GET", 200, body)
        assert "messages" not in body["data"][0]  # only with_messages=true
        pages += 1
        if pages > 1:
            assert "previous_page_token" in body
        seen += [t["id"] for t in body["data"]]
        token = body.get("next_page_token")
        if not token:
            break
    assert pages == 3 and len(seen) == 10 and len(set(seen)) == 10
    dates = [t["date_updated"] for t in client.get("/api/inbox/threads", limit=100).json()["data"]]
    assert dates == sorted(dates, reverse=True)  # newest first

    second = client.get("/api/inbox/threads", limit=4, page_token=client.get(
        "/api/inbox/threads", limit=4).json()["next_page_token"]).json()
    back = client.get("/api/inbox/threads", limit=4, page_token=second["previous_page_token"]).json()
    assert [t["id"] for t in back["data"]] == seen[:4]

    one_order = client.get("/api/inbox/threads", entity_type="MMP_ORDER",
                           entity_id=orders[1]["order_id"], with_messages="true").json()
    validate_mirakl("/api/inbox/threads", "GET", 200, one_order)
    assert len(one_order["data"]) == 3 and all(t["messages"] for t in one_order["data"])
    assert client.get("/api/inbox/threads", entity_id=orders[1]["order_id"]).status_code == 400
    assert client.get("/api/inbox/threads", page_token="garbage!").status_code == 400
    assert client.get("/api/inbox/threads", limit=1000).status_code == 400

    sandbox.advance(10)
    since = iso(sandbox.mirakl.now() - 5)
    newer = sandbox.generate_messages(1, order_id=orders[2]["order_id"], new_thread=True)
    updated = client.get("/api/inbox/threads", updated_since=since).json()["data"]
    assert [t["id"] for t in updated] == [newer[0][0]]
