"""The customer-service inbox: conversations by urgency, one conversation with its order, replies."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse

from orderflow import business_hours, templates
from orderflow.store import OrderStore
from orderflow.views.common import base_path, get_store, render, settings, utcnow
from orderflow.views.resources import CUSTOMER_SERVICE, WRITE
from orderflow.views.security import StaffUser, require

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
):
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
    history = store.history(conversation["order_id"]) if order else []
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


@router.get("/conversations/{conversation_id}", name="inbox_conversation")
def conversation_page(
    request: Request,
    conversation_id: int,
    user: Reader,
    store: Store,
    template: str | None = Query(None, max_length=100),
    sent: int = Query(0),
):
    context = _conversation_context(store, conversation_id)
    if context is None:
        return render(request, "error.html", {"user": user, "title": "Unknown conversation",
                                              "message": f"No conversation {conversation_id}."}, status_code=404)
    # Without JavaScript a template is picked with ?template=name: the box comes pre-filled.
    chosen = next((t for t in context["reply_templates"] if t["name"] == template), None)
    return render(
        request,
        "inbox_conversation.html",
        {
            "user": user,
            **context,
            "draft": chosen["body"] if chosen else "",
            "draft_template": chosen["name"] if chosen else "",
            "sent": bool(sent),
            "error": None,
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
):
    context = _conversation_context(store, conversation_id)
    if context is None:
        return render(request, "error.html", {"user": user, "title": "Unknown conversation",
                                              "message": f"No conversation {conversation_id}."}, status_code=404)
    conversation = context["conversation"]
    text = body.replace("\r\n", "\n").strip()

    def again(error: str, status_code: int):
        # The agent's text goes back into the box: nothing typed is lost on a failure.
        return render(
            request,
            "inbox_conversation.html",
            {"user": user, **context, "draft": body, "draft_template": template_name, "sent": False,
             "error": error},
            status_code=status_code,
        )

    if len(text) < BODY_MIN:
        return again(f"The reply is empty or too short (at least {BODY_MIN} characters).", 400)
    if len(text) > BODY_MAX:
        return again(f"The reply is too long ({len(text)} characters; Best Buy accepts {BODY_MAX}).", 400)
    if not conversation.get("customer_id"):
        return again("This conversation has no customer id: Best Buy cannot route a reply.", 409)

    from orderflow.hooks.mirakl import MiraklError, MiraklHook

    hook = MiraklHook()
    try:
        created = hook.reply_to_thread(conversation["mirakl_thread_id"], text, conversation["customer_id"])
    except MiraklError as exc:
        log.warning("M12 reply on conversation %s failed: %s", conversation_id, exc)
        return again(f"Best Buy did not accept the reply: {exc}. Your text is kept below; try again.", 502)
    except Exception as exc:  # connection config missing, DNS...: the agent still keeps the text
        log.exception("M12 reply on conversation %s failed", conversation_id)
        return again(f"Sending failed ({type(exc).__name__}: {exc}). Your text is kept below; try again.", 502)
    finally:
        hook.close()

    try:
        store.record_agent_reply(
            conversation_id,
            body=text,
            agent=user.username,
            agent_name=user.display_name,
            mirakl_message_id=created.get("message_id"),
            sent_at=utcnow(),
            template_name=template_name or None,
            raw={"m12": created, "agent_display_name": user.display_name},
        )
    except Exception:
        # Best Buy has the message (the next inbox sync brings it in): sending again would
        # duplicate it for the customer, so say so instead of offering a retry.
        log.exception("reply %s sent but not stored", created)
        return again(
            "The reply WAS sent to the customer, but saving it here failed; the next inbox sync will "
            "show it. Do not send it again.",
            500,
        )
    return RedirectResponse(f"{base_path(request)}/inbox/conversations/{conversation_id}?sent=1", status_code=303)
