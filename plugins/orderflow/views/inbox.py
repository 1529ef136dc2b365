"""The customer-service inbox: conversations by urgency, one conversation with its order, replies."""

from __future__ import annotations

import logging
import re
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from orderflow import business_hours, replies, templates
from orderflow.hooks._http import RetryPolicy
from orderflow.store import OrderStore
from orderflow.views.common import base_path, get_store, render, settings, utcnow
from orderflow.views.resources import CUSTOMER_SERVICE, WRITE
from orderflow.views.security import StaffUser, require

if TYPE_CHECKING:
    from orderflow.hooks.mirakl import MiraklHook

log = logging.getLogger(__name__)

router = APIRouter(prefix="/inbox")

Reader = Annotated[StaffUser, Depends(require(CUSTOMER_SERVICE))]
Writer = Annotated[StaffUser, Depends(require(CUSTOMER_SERVICE, WRITE))]
Store = Annotated[OrderStore, Depends(get_store)]

# Mirakl M12 limits (orderflow.hooks.mirakl_api): checked here too so the agent gets the message
# on the page instead of an API error.
BODY_MIN = 3
BODY_MAX = 50_000
# Messages longer than this are folded: the first part shows, the rest opens on demand.
FOLD_CHARS = 1200
FOLD_PREVIEW_CHARS = 600
SNIPPET_CHARS = 140
# Share of the reply target after which a waiting conversation turns amber.
WARN_SHARE = 0.75


def _hours() -> business_hours.BusinessHours:
    return business_hours.BusinessHours.from_settings(settings())


def reply_age(since: datetime | None, now: datetime) -> dict[str, Any] | None:
    """Age of a waiting conversation in business hours against Best Buy's reply target."""
    if since is None:
        return None
    s = settings()
    hours = _hours()
    age = business_hours.business_hours_between(since, now, hours)
    target = float(s.reply_target_business_hours)
    due = business_hours.reply_deadline(since, hours, target)
    share = age / target if target > 0 else 1.0
    css = "age-late" if age >= target else "age-warn" if share >= WARN_SHARE else "age-ok"
    return {"hours": age, "target": target, "due": due, "late": age >= target, "css": css}


def _snippet(text: str | None) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= SNIPPET_CHARS else text[: SNIPPET_CHARS - 1] + "…"


@router.get("/", name="inbox_list")
def inbox_page(
    request: Request,
    user: Reader,
    store: Store,
    filter: str = Query("needs_reply", pattern="^(needs_reply|all)$"),
    order_id: str | None = Query(None, max_length=100),
) -> Response:
    order_filter = (order_id or "").strip() or None
    # An order filter searches all of that order's conversations, answered or not.
    needs_only = filter == "needs_reply" and order_filter is None
    rows = store.inbox_conversations(needs_reply_only=needs_only, order_id=order_filter)
    now = utcnow()
    for row in rows:
        row["age"] = reply_age(row["needs_reply_since"], now)
        row["snippet"] = _snippet(row["last_body"])
    return render(
        request,
        "inbox_list.html",
        {
            "user": user,
            "conversations": rows,
            "counts": store.inbox_counts(),
            "filter": "order" if order_filter else filter,
            "order_id": order_filter or "",
            "target": settings().reply_target_business_hours,
        },
    )


def _conversation_context(store: OrderStore, conversation_id: int) -> dict[str, Any] | None:
    conversation = store.inbox_conversation(conversation_id)
    if conversation is None:
        return None
    s = settings()
    messages = store.inbox_messages(conversation_id)
    for m in messages:
        body = m["body"] or ""
        m["folded"] = len(body) > FOLD_CHARS
        m["preview"] = body[:FOLD_PREVIEW_CHARS] if m["folded"] else body
    order = store.get_order(conversation["order_id"]) if conversation["order_id"] else None
    # Status rows and order events (a partial cancelation: who, why, which units), as they happened.
    history = store.history_with_events(conversation["order_id"]) if order else []
    shipments = store.shipments_for_order(conversation["order_id"]) if order else []
    for shipment in shipments:
        pin = shipment.get("tracking_pin")
        shipment["tracking_url"] = s.tracking_url_template.replace("{pin}", pin) if pin else None
    placeholder_values = templates.order_context(
        # "Hello Jordan": the first name from Mirakl's customer, else the order's (templates falls
        # back to it when this is empty), else the thread's display name.
        customer_name=conversation.get("customer_firstname")
        or (None if order and order.get("customer_firstname") else conversation.get("customer_name")),
        order=order,
        shipments=shipments,
        shop_name=s.shop_name,
        tracking_url_template=s.tracking_url_template,
        timezone=s.business_timezone,
        order_id=conversation["order_id"],
    )
    reply_templates = [
        {"name": t["name"], "title": t["title"], "body": templates.render(t["body"], placeholder_values)}
        for t in store.inbox_reply_templates()
    ]
    return {
        "conversation": conversation,
        "messages": messages,
        "order": order,
        "history": history,
        "shipments": shipments,
        "reply_templates": reply_templates,
        "age": reply_age(conversation["needs_reply_since"], utcnow()),
    }


# What the page says about a reply, by ReplyOutcome.state (orderflow.replies). {reason} and {reference}
# are orderflow's own words and ids, never the server's text.
OUTCOME_WORDS = {
    "checking": "Not confirmed yet: {reason}. Best Buy may already have your reply, so orderflow does not send "
                "it again before it has checked the conversation at Best Buy. Your text is kept below: press "
                "Send again to check (it is sent only if Best Buy does not have it).",
    "not_sent": "Not sent: {reason}. Best Buy does not have this reply; your text is kept below and you can "
                "send it again.",
    "busy": "This reply is being sent by another click or tab right now; your text is kept below. Reload the "
            "page in a moment to see the result.",
}
REPLY_KEY_PATTERN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
# The inbox waits for Best Buy with a person in front of the screen: fewer, shorter retries than a task.
INBOX_RETRY_POLICY = RetryPolicy(max_attempts=3, max_total_seconds=20.0, initial_wait=0.5, max_wait=5.0)


def _inbox_hook() -> MiraklHook:
    from orderflow.hooks.mirakl import MiraklHook

    return MiraklHook(retry_policy=INBOX_RETRY_POLICY)


def _outcome_message(outcome: replies.ReplyOutcome) -> str:
    words = OUTCOME_WORDS[outcome.state].format(reason=outcome.reason or "Best Buy did not confirm it")
    return f"{words} Reference {outcome.reference}." if outcome.reference else words


def _pending_reply(store: OrderStore, conversation_id: int, user: StaffUser) -> dict[str, Any] | None:
    """The agent's reply on this conversation that Best Buy does not have for sure: its text and key
    come back into the form, and an "unknown" one is read back (M10 only, never sent) so the page
    says what happened."""
    row = store.open_agent_reply(conversation_id, user.username)
    if row is None:
        return None
    if row["status"] == "unknown" or (row["status"] == "sending" and not row["lease_held"]):
        hook = _inbox_hook()
        try:
            outcome = replies.check_agent_reply(store, hook, reply_key=row["reply_key"],
                                                conversation_id=conversation_id)
        except Exception:  # the page must still show the kept text
            reference = f"R-{row['reply_key'][:8]}-{row['attempts']}"
            log.exception("reply %s: read-back on page view failed", reference)
            outcome = replies.ReplyOutcome("checking", row["reply_key"], row["body"], reference=reference,
                                           reason="Best Buy's copy of the conversation could not be read")
        finally:
            hook.close()
    elif row["status"] == "not_sent":
        error = row.get("error") or {}
        outcome = replies.ReplyOutcome("not_sent", row["reply_key"], row["body"], reference=error.get("reference"),
                                       reason="Best Buy did not take it")
    else:
        outcome = replies.ReplyOutcome("busy", row["reply_key"], row["body"])
    if outcome.delivered:
        return {"sent": True}
    return {"reply_key": row["reply_key"], "draft": row["body"], "template": row.get("template_name") or "",
            "state": outcome.state, "message": _outcome_message(outcome)}


@router.get("/conversations/{conversation_id}", name="inbox_conversation")
def conversation_page(
    request: Request,
    conversation_id: int,
    user: Reader,
    store: Store,
    template: str | None = Query(None, max_length=100),
    sent: int = Query(0),
    again: int = Query(0),
) -> Response:
    pending = _pending_reply(store, conversation_id, user) if store.inbox_conversation(conversation_id) else None
    context = _conversation_context(store, conversation_id)
    if context is None:
        return render(request, "error.html", {"user": user, "title": "Unknown conversation",
                                              "message": f"No conversation {conversation_id}."}, status_code=404)
    # Without JavaScript a template is picked with ?template=name: the box comes pre-filled.
    chosen = next((t for t in context["reply_templates"] if t["name"] == template), None)
    kept = pending if pending and not pending.get("sent") else None
    return render(
        request,
        "inbox_conversation.html",
        {
            "user": user,
            **context,
            "reply_key": kept["reply_key"] if kept else replies.new_reply_key(),
            "draft": kept["draft"] if kept else (chosen["body"] if chosen else ""),
            "draft_template": kept["template"] if kept else (chosen["name"] if chosen else ""),
            "sent": bool(sent) or bool(pending and pending.get("sent")),
            "sent_before": bool(again),
            "error": kept["message"] if kept else None,
            "reply_state": kept["state"] if kept else None,
        },
    )


@router.post("/conversations/{conversation_id}/reply", name="inbox_reply")
def post_reply(
    request: Request,
    conversation_id: int,
    user: Writer,
    store: Store,
    body: str = Form("", max_length=BODY_MAX * 2),
    template_name: str = Form("", max_length=100),
    reply_key: str = Form("", max_length=100),
) -> Response:
    context = _conversation_context(store, conversation_id)
    if context is None:
        return render(request, "error.html", {"user": user, "title": "Unknown conversation",
                                              "message": f"No conversation {conversation_id}."}, status_code=404)
    conversation = context["conversation"]
    text = replies.normalise_reply_text(body)
    key_ok = bool(REPLY_KEY_PATTERN.match(reply_key))

    def again(error: str, status_code: int, *, state: str | None = None, key: str | None = None,
              draft: str | None = None) -> Response:
        # The agent's text goes back into the box, with the same key: nothing typed is lost on a
        # failure, and pressing Send again is the same reply (never a second one).
        return render(
            request,
            "inbox_conversation.html",
            {"user": user, **context, "draft": body if draft is None else draft, "draft_template": template_name,
             "sent": False, "sent_before": False, "error": error, "reply_state": state,
             "reply_key": key or (reply_key if key_ok else replies.new_reply_key())},
            status_code=status_code,
        )

    if not key_ok:
        # A form rendered before replies carried a key (or a forged one): nothing is sent.
        return again("This form is out of date: check the text below and press Send again.", 400)
    if len(text) < BODY_MIN:
        return again(f"The reply is empty or too short (at least {BODY_MIN} characters).", 400)
    if len(text) > BODY_MAX:
        return again(f"The reply is too long ({len(text)} characters; Best Buy accepts {BODY_MAX}).", 400)
    if not conversation.get("customer_id"):
        return again("This conversation has no customer id: Best Buy cannot route a reply.", 409)

    hook = _inbox_hook()
    try:
        outcome = replies.send_agent_reply(
            store, hook, reply_key=reply_key, conversation_id=conversation_id, body=text,
            agent=user.username, agent_name=user.display_name, template_name=template_name or None,
            recheck_seconds=float(settings().reply_recheck_seconds),
        )
    except replies.ReplyKeyMismatch:
        return again("This form belongs to another conversation: nothing was sent. Check the text and send "
                     "again.", 409, key=replies.new_reply_key())
    except Exception:
        # The store or the connection's configuration: say where things stand without the error's text.
        reference = f"R-{reply_key[:8]}-x"
        log.exception("reply %s on conversation %s: sending failed", reference, conversation_id)
        return again(
            "Sending failed, or could not be confirmed, because of an error in orderflow. Your text is kept "
            f"below; press Send again (it is checked at Best Buy before anything is resent). Reference {reference}.",
            500, state="checking",
        )
    finally:
        hook.close()

    target = f"{base_path(request)}/inbox/conversations/{conversation_id}?sent=1"
    if outcome.delivered and outcome.unsent_body is not None:
        return again(
            "Your earlier text had reached the customer, so it was not sent again; the edited text below was "
            "NOT sent. Send it as a new reply if it is still needed.",
            200, key=replies.new_reply_key(), draft=outcome.unsent_body,
        )
    if outcome.state == "already_sent":
        return RedirectResponse(f"{target}&again=1", status_code=303)
    if outcome.delivered:
        return RedirectResponse(target, status_code=303)
    status_code = 409 if outcome.state == "busy" else 502
    return again(_outcome_message(outcome), status_code, state=outcome.state, draft=outcome.body or body)
