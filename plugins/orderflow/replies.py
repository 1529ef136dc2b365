"""Agents' inbox replies (M12), exactly once (issue 12 item 5).

M12 carries no idempotency key, so the guarantee is ours:

1. The inbox page renders a one-time key (:func:`new_reply_key`) into the reply form. Every submit
   of that form (a second click, a browser resubmit, a retry after an error) carries the same key.
2. :func:`send_agent_reply` commits the intent (key, conversation, exact text, agent) and a lease
   before the first M12 (``OrderStore.claim_agent_reply``); the lease makes concurrent submits of
   one key wait for the request holding it instead of calling M12 themselves.
3. The M12 answer closes the intent (``sent``). A refusal Best Buy provably did not apply (4xx, 429,
   connection refused) leaves it ``not_sent``: the text is kept and may be sent again. Any doubt
   (read timeout, dropped connection, 5xx, an answer we cannot read, a request that died mid-call)
   leaves it ``unknown``.
4. Before anything is sent again after a doubt, the thread is read back (M10) and its shop messages
   are matched against the intent's stored text (:func:`find_reply_in_thread`): a match closes the
   intent as sent (adopted). No match sends again only when the doubtful attempt is at least
   ``recheck_seconds`` old (a message Best Buy is still processing must not be sent twice); until
   then the reply waits (``checking``) and the page says so.

:func:`check_agent_reply` is the read-only half (M10, never M12) that a page view runs for an
``unknown`` intent so the agent sees what happened without sending anything.

Both return a :class:`ReplyOutcome` whose ``state`` the page turns into words: ``sent`` (this call
got it to Best Buy or found it there), ``already_sent`` (an earlier submit did), ``checking`` (an
attempt may have reached Best Buy; nothing is resent until the read-back settles it), ``not_sent``
(Best Buy does not have it; the text is kept), ``busy`` (another submit of the same key is at work).
Errors are summarised for staff as a short message and a ``reference`` (also in the log line with the
error's status, codes and request id), never the server's text.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from orderflow.store.replies import ALREADY_SENT, BUSY, CHECK, FOREIGN, NOTHING

# re-exported: the inbox page catches it as replies.ReplyKeyMismatch
from orderflow.store.replies import ReplyKeyMismatch as ReplyKeyMismatch

if TYPE_CHECKING:
    from orderflow.hooks.mirakl import MiraklHook
    from orderflow.store import OrderStore

log = logging.getLogger(__name__)

#: How long a request may work on one intent before another may take it over (M12's read timeout and
#: the inbox hook's bounded retries fit well inside).
LEASE_SECONDS = 90.0
#: Mirakl's clock against ours: a thread message dated this much before the intent can still be it.
CLOCK_SKEW = timedelta(minutes=10)
#: How long a second submit of a key waits for the request holding its lease before answering "busy".
BUSY_WAIT_SECONDS = 20.0
BUSY_POLL_SECONDS = 0.2

SENT = "sent"
ALREADY = "already_sent"
CHECKING = "checking"
NOT_SENT = "not_sent"
BUSY_STATE = "busy"


@dataclass(frozen=True)
class ReplyOutcome:
    """What happened to one composed reply (see the module docstring for ``state``)."""

    state: str
    reply_key: str
    body: str                               # the text the intent holds (what was or will be sent)
    mirakl_message_id: str | None = None
    reference: str | None = None            # for the agent and the log: names the failed attempt
    reason: str | None = None               # short, staff-safe: what went wrong (never server text)
    adopted: bool = False                   # found by the read-back rather than M12's answer
    unsent_body: str | None = None          # a resubmit's edited text that was NOT sent (the earlier was)

    @property
    def delivered(self) -> bool:
        return self.state in (SENT, ALREADY)


def new_reply_key() -> str:
    """A one-time key for a reply form (URL-safe, 128 bits)."""
    return secrets.token_urlsafe(16)


def normalise_reply_text(text: str) -> str:
    """The text as M12 gets it from the inbox form (line endings unified, outer blanks trimmed)."""
    return text.replace("\r\n", "\n").replace("\r", "\n").strip()


def _reference(reply_key: str, attempt: int | None) -> str:
    return f"R-{reply_key[:8]}-{attempt or 0}"


def _error_summary(exc: BaseException, reference: str, operation: str) -> dict[str, Any]:
    """What the intent row and the log keep of a failure: type, ids and codes, never the server's text."""
    summary: dict[str, Any] = {"operation": operation, "error": type(exc).__name__, "reference": reference}
    for attr in ("status", "request_id"):
        value = getattr(exc, attr, None)
        if value is not None:
            summary[attr] = value
    codes = getattr(exc, "codes", None)
    if codes:
        summary["codes"] = list(codes)
    return summary


def _provably_not_applied(exc: BaseException) -> bool:
    """True when Best Buy cannot have taken the message (a resend is safe); False on any doubt."""
    from orderflow.hooks.mirakl_errors import MiraklError, MiraklPermanentError, MiraklRetryableError

    if isinstance(exc, MiraklRetryableError):
        return not exc.may_have_been_applied
    if isinstance(exc, MiraklPermanentError):
        return True  # a 4xx (or refused before sending): Mirakl applied nothing
    if isinstance(exc, MiraklError):
        return False  # a 2xx we could not read: the message probably exists
    return False  # anything else happened mid-call: assume it may have arrived


def _staff_reason(exc: BaseException, not_applied: bool) -> str:
    from orderflow.hooks.mirakl_errors import (
        MiraklAuthenticationError,
        MiraklPermissionError,
        MiraklRateLimitError,
        MiraklTimeoutError,
        MiraklValidationError,
    )

    status = getattr(exc, "status", None)
    if isinstance(exc, MiraklRateLimitError):
        return "Best Buy is busy (too many requests)"
    if isinstance(exc, MiraklAuthenticationError | MiraklPermissionError):
        return "Best Buy refused orderflow's API key (an administrator must check the Mirakl connection)"
    if isinstance(exc, MiraklValidationError):
        return "the reply could not be addressed (no customer or thread id)"
    if isinstance(exc, MiraklTimeoutError):
        return "Best Buy did not answer in time"
    if status is not None and status >= 500:
        return f"Best Buy answered with a server error (HTTP {status})"
    if status is not None:
        return f"Best Buy refused the reply (HTTP {status})"
    return "the connection to Best Buy failed" if not_applied else "the connection to Best Buy broke off"


def find_reply_in_thread(
    thread: Mapping[str, Any], body: str, *, not_before: datetime, claimed: set[str]
) -> dict[str, Any] | None:
    """The shop message of an M10 thread that is this intent's reply, or None (pure).

    A match is a shop message whose text equals ``body`` (after :func:`normalise_reply_text`), dated
    no earlier than ``not_before`` minus ``CLOCK_SKEW``, whose id no other known reply has
    (``claimed``). The oldest such message wins.
    """
    from orderflow.hooks.mirakl_records import MalformedThread, parse_timestamp

    wanted = normalise_reply_text(body)
    found: list[tuple[datetime, dict[str, Any]]] = []
    for message in thread.get("messages") or []:
        if not isinstance(message, dict) or message.get("id") in claimed or not message.get("id"):
            continue
        sender: dict[str, Any] = message["from"] if isinstance(message.get("from"), dict) else {}
        if sender.get("type") not in ("SHOP_USER", "SHOP"):
            continue
        if normalise_reply_text(str(message.get("body") or "")) != wanted:
            continue
        try:
            at = parse_timestamp(message.get("date_created"), "date_created", None)
        except MalformedThread:
            continue
        if at is not None and at >= not_before - CLOCK_SKEW:
            found.append((at, message))
    return min(found, key=lambda pair: pair[0])[1] if found else None


def _message_date(message: Mapping[str, Any]) -> datetime:
    from orderflow.hooks.mirakl_records import MalformedThread, parse_timestamp

    try:
        return parse_timestamp(message.get("date_created"), "date_created", None) or datetime.now(UTC)
    except MalformedThread:
        return datetime.now(UTC)


def _outcome_from_row(state: str, row: Mapping[str, Any], **extra: Any) -> ReplyOutcome:
    error = row.get("error") or {}
    return ReplyOutcome(
        state=state,
        reply_key=row["reply_key"],
        body=row["body"],
        mirakl_message_id=extra.pop("mirakl_message_id", row.get("mirakl_message_id")),
        reference=extra.pop("reference", error.get("reference") if isinstance(error, dict) else None),
        adopted=bool(extra.pop("adopted", row.get("adopted"))),
        **extra,
    )


def _settled_outcome(row: Mapping[str, Any]) -> ReplyOutcome:
    """What a row that no request is working on says (for a submit that found it so)."""
    if row["status"] == "sent":
        return _outcome_from_row(ALREADY, row)
    if row["status"] == "not_sent":
        return _outcome_from_row(NOT_SENT, row, reason="Best Buy did not take it")
    if row["status"] == "unknown":
        return _outcome_from_row(CHECKING, row, reason="it is not certain Best Buy got it")
    return _outcome_from_row(BUSY_STATE, row, reason="another submit of this reply is at work")


def _read_back(
    store: OrderStore, hook: MiraklHook, row: Mapping[str, Any], thread_id: str
) -> tuple[str, ReplyOutcome | None]:
    """M10 + match for a row whose lease this request holds. ("found"|"absent"|"failed", outcome)."""
    reply_key = row["reply_key"]
    reference = _reference(reply_key, row.get("attempts"))
    try:
        thread = hook.get_thread(thread_id)
    except Exception as exc:  # nothing was sent: keep the doubt, say we could not look
        summary = _error_summary(exc, reference, "M10")
        log.warning("reply %s: M10 read-back failed (%s)", reference, summary)
        store.release_agent_reply(reply_key, "unknown", error=summary)
        return "failed", _outcome_from_row(
            CHECKING, row, reference=reference, reason="Best Buy's copy of the conversation could not be read"
        )
    claimed = store.claimed_mirakl_message_ids(int(row["conversation_id"]), reply_key)
    match = find_reply_in_thread(thread, row["body"], not_before=row["created_at"], claimed=claimed)
    if match is None:
        return "absent", None
    closed = store.record_agent_reply_sent(
        reply_key, mirakl_message_id=match["id"], sent_at=_message_date(match), adopted=True,
        raw={"m10": {"id": match["id"], "date_created": match.get("date_created")}},
    )
    log.info("reply %s: found in thread %s as message %s (adopted)", reference, thread_id, match["id"])
    final = closed or store.agent_reply(reply_key) or row
    return "found", _outcome_from_row(SENT, final, adopted=True)


def send_agent_reply(
    store: OrderStore,
    hook: MiraklHook,
    *,
    reply_key: str,
    conversation_id: int,
    body: str,
    agent: str,
    agent_name: str | None = None,
    template_name: str | None = None,
    recheck_seconds: float = 30.0,
    lease_seconds: float = LEASE_SECONDS,
    busy_wait_seconds: float = BUSY_WAIT_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
) -> ReplyOutcome:
    """Submit one composed reply (its one-time ``reply_key``) to the customer: at most one M12 message.

    Safe to call any number of times, concurrently, for the same key: Best Buy gets the text once.
    ``body`` is the text as submitted (normalised here); on a resubmit after a doubt the thread is read
    back first (module docstring). Raises :class:`ReplyKeyMismatch` when the key was made for
    another conversation. Needs the conversation's thread and customer ids in the store.
    """
    text = normalise_reply_text(body)
    conversation = store.inbox_conversation(conversation_id)
    if conversation is None:
        raise LookupError(f"no conversation {conversation_id}")
    thread_id, customer_id = conversation["mirakl_thread_id"], conversation.get("customer_id")
    waited = 0.0
    while True:
        claim = store.claim_agent_reply(
            reply_key=reply_key, conversation_id=conversation_id, body=text, agent=agent, agent_name=agent_name,
            template_name=template_name, lease_seconds=lease_seconds,
        )
        if claim.action == FOREIGN:
            raise ReplyKeyMismatch(f"reply key {reply_key[:8]}… does not belong to conversation {conversation_id}")
        if claim.action == ALREADY_SENT:
            return _outcome_from_row(ALREADY, claim.row)
        if claim.action != BUSY:
            break
        # Another submit of this key holds the lease (a double click): wait for its verdict.
        if waited >= busy_wait_seconds:
            return _outcome_from_row(BUSY_STATE, claim.row, reason="another submit of this reply is at work")
        sleep(BUSY_POLL_SECONDS)
        waited += BUSY_POLL_SECONDS
        current = store.agent_reply(reply_key)
        if current is not None and not current["lease_held"] and current["status"] != "sending":
            # Settled by the other request: report it (a resubmit decides on its own later).
            return _settled_outcome(current)

    row = claim.row
    if claim.action == CHECK:
        verdict, outcome = _read_back(store, hook, row, thread_id)
        if outcome is not None:
            if verdict == "found" and text != normalise_reply_text(row["body"]):
                # The earlier text is with the customer; the edited one was not sent.
                return ReplyOutcome(**{**outcome.__dict__, "unsent_body": text})
            return outcome
        waited_since = float(row.get("seconds_since_attempt") or 0.0)
        if waited_since < recheck_seconds:
            store.release_agent_reply(reply_key, "unknown", checked=True)
            return _outcome_from_row(
                CHECKING, row,
                reason=f"Best Buy does not show it yet; it is checked again before anything is resent "
                       f"(in {max(1, round(recheck_seconds - waited_since))} s)",
            )
        row = store.begin_agent_reply_attempt(
            reply_key, body=text, agent=agent, agent_name=agent_name, template_name=template_name,
            lease_seconds=lease_seconds,
        )
    return _attempt(store, hook, row, thread_id, customer_id)


def _attempt(
    store: OrderStore, hook: MiraklHook, row: Mapping[str, Any], thread_id: str, customer_id: str | None
) -> ReplyOutcome:
    """One M12 call for a row whose lease this request holds and whose attempt is committed."""
    reply_key = row["reply_key"]
    reference = _reference(reply_key, row.get("attempts"))
    try:
        if not customer_id:
            from orderflow.hooks.mirakl_errors import MiraklValidationError

            raise MiraklValidationError(f"conversation {row['conversation_id']} has no customer id")
        created = hook.reply_to_thread(thread_id, row["body"], customer_id)
    except Exception as exc:
        not_applied = _provably_not_applied(exc)
        summary = {**_error_summary(exc, reference, "M12"), "applied": "no" if not_applied else "maybe"}
        log.warning("reply %s on conversation %s: M12 failed (%s)", reference, row["conversation_id"], summary)
        released = store.release_agent_reply(reply_key, "not_sent" if not_applied else "unknown", error=summary)
        final = released or row
        return _outcome_from_row(
            NOT_SENT if not_applied else CHECKING, final, reference=reference,
            reason=_staff_reason(exc, not_applied),
        )
    sent_at = datetime.now(UTC)
    try:
        closed = store.record_agent_reply_sent(
            reply_key, mirakl_message_id=created["message_id"], sent_at=sent_at, raw={"m12": created},
        )
    except Exception:
        # Best Buy has it; our record failed. The intent stays "sending" until its lease ends, then a
        # read-back finds the message: never a second M12.
        log.exception("reply %s sent as %s but not recorded", reference, created.get("message_id"))
        return _outcome_from_row(SENT, row, reference=reference, mirakl_message_id=created.get("message_id"))
    log.info("reply %s sent on thread %s as message %s", reference, thread_id, created["message_id"])
    return _outcome_from_row(SENT, closed or row)


def check_agent_reply(store: OrderStore, hook: MiraklHook, *, reply_key: str, conversation_id: int) -> ReplyOutcome:
    """Settle an ``unknown`` intent by reading the thread (M10) only: never sends anything.

    For a page view: an intent found in the thread becomes ``sent``; otherwise it stays as it was and
    the outcome says where it stands (``checking``, ``not_sent``, ``busy``).
    """
    conversation = store.inbox_conversation(conversation_id)
    if conversation is None:
        raise LookupError(f"no conversation {conversation_id}")
    claim = store.claim_agent_reply(
        reply_key=reply_key, conversation_id=conversation_id, body="", agent="", check_only=True,
        lease_seconds=LEASE_SECONDS,
    )
    if claim.action == FOREIGN:
        raise ReplyKeyMismatch(f"reply key {reply_key[:8]}… does not belong to conversation {conversation_id}")
    if claim.action == NOTHING:
        return ReplyOutcome(NOT_SENT, reply_key, "", reason="nothing was submitted with this key")
    if claim.action == ALREADY_SENT:
        return _outcome_from_row(ALREADY, claim.row)
    if claim.action != CHECK:
        return _settled_outcome(claim.row)
    _, outcome = _read_back(store, hook, claim.row, conversation["mirakl_thread_id"])
    if outcome is not None:
        return outcome
    store.release_agent_reply(reply_key, "unknown", checked=True)
    return _outcome_from_row(CHECKING, claim.row, reason="Best Buy does not show it yet")
