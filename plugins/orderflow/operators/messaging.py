"""Messaging task group: sync the Mirakl inbox (M11/M10), then send templated auto-replies (M12).

Sync (``SyncMessagesOperator``)
    M11 from a stored watermark minus an overlap (Mirakl's dates are the server's; re-reading a few
    minutes is cheaper than missing a message), M10 only for threads whose payload lacks messages
    we do not already hold (bounded concurrency), batched UPSERTs that write nothing for data we
    already have. A malformed thread is listed and skipped while the rest is stored; the watermark
    then stops before it, so the next run reads it again; the task ends failed (no Airflow retry:
    the next scheduled run re-reads it anyway). Transient API trouble after the hook's own retries
    ends the task in a retryable error once everything else is stored.

Auto-reply (``AutoReplyOperator``)
    Candidates: conversations Mirakl says need a shop answer whose latest message is the
    customer's (never the operator's, never ours) and that have no ``auto_replies`` row yet. Rules:
    ``Settings.auto_reply_enabled``; ``auto_reply_only_outside_business_hours`` (the customer's
    message arrived outside business hours); ``auto_reply_first_contact_only`` (the shop has never
    written in the thread); one acknowledgement per unanswered stretch (no second auto-reply while
    the previous one still waits for a human); a maximum message age. A message a rule excludes gets
    a ``skipped`` ledger row with the reason (an audit trail, and it is not re-evaluated).

    Exactly once per customer message: the ledger row (``intent``, with the exact text) is
    committed before M12 and locked during the call; a leftover ``intent`` (a crashed or timed-out
    attempt) is resolved by reading the thread (M10): a shop message after the customer's means
    "already answered" (ours if the text matches: adopted as the auto-reply; a person's: skipped).
    Permanent M12 errors mark that row ``failed`` and fail the task at the end (clearing the task
    instance re-attempts the failures of that run); transient ones keep ``intent`` and the task
    retries. A leftover ``intent`` the thread does not show is sent again only once its last attempt
    is ``Settings.reply_recheck_seconds`` old (the same rule as agents' replies, orderflow.replies);
    until then it waits (transient).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException, AirflowFailException

if TYPE_CHECKING:  # heavy imports stay out of DAG parsing
    from orderflow.hooks.mirakl import MiraklHook
    from orderflow.settings import Settings
    from orderflow.store import OrderStore

log = logging.getLogger(__name__)

# Mirakl's M12 body limit (sheet §7); a longer rendered template is a seller's template error.
MAX_REPLY_CHARS = 50_000


# ------------------------------------------------------------------------------------------------
# Sync
# ------------------------------------------------------------------------------------------------
@dataclass
class SyncReport:
    since: datetime | None = None
    threads_listed: int = 0
    threads_fetched: int = 0          # M10 calls
    threads_stored: int = 0
    writes: dict[str, int] = field(default_factory=dict)
    watermark: datetime | None = None
    malformed: list[dict[str, str | None]] = field(default_factory=list)   # permanent: bad payloads
    permanent: list[dict[str, str | None]] = field(default_factory=list)   # M10 refused (404...)
    transient: list[dict[str, str | None]] = field(default_factory=list)   # M10 retryable trouble

    def as_xcom(self) -> dict[str, Any]:
        return {
            "since": self.since.isoformat() if self.since else None,
            "threads_listed": self.threads_listed,
            "threads_fetched": self.threads_fetched,
            "threads_stored": self.threads_stored,
            "writes": self.writes,
            "watermark": self.watermark.isoformat() if self.watermark else None,
            "malformed": self.malformed,
            "permanent": self.permanent,
            "transient": self.transient,
        }


def _needs_details(thread: Any, stored: Mapping[str, Any] | None) -> bool:
    """M10 is needed unless the payload is complete or we already hold every message."""
    if thread.complete:
        return False
    if stored is None:
        return True
    count = thread.message_count
    return not (
        count is not None
        and stored.get("mirakl_message_count") == count
        and int(stored.get("stored_messages") or 0) >= count
        and stored.get("last_message_at") == thread.last_message_at
    )


def sync_inbox(
    hook: MiraklHook,
    store: OrderStore,
    *,
    watermark_name: str,
    overlap: timedelta,
    initial_lookback: timedelta,
    with_messages: bool,
    max_workers: int,
    now: datetime | None = None,
) -> SyncReport:
    """One sync pass (see the module docstring). Never raises for a single bad thread."""
    from orderflow.hooks.mirakl_api import MiraklPermanentError, MiraklRetryableError
    from orderflow.hooks.mirakl_records import MalformedThread, thread_from_payload

    report = SyncReport()
    now = now or datetime.now(UTC)
    watermark = store.get_watermark(watermark_name)
    report.since = (watermark - overlap) if watermark else (now - initial_lookback)

    payloads = hook.list_threads(updated_since=report.since, with_messages=with_messages)
    report.threads_listed = len(payloads)

    parsed = []
    # Dates of threads we could not store: the watermark must not pass them.
    held_back: list[datetime | None] = []
    for payload in payloads:
        try:
            parsed.append(thread_from_payload(payload))
        except MalformedThread as exc:
            report.malformed.append({"thread_id": exc.thread_id, "reason": exc.reason})
            held_back.append(_payload_date(payload))

    stored_state = store.conversation_sync_state([t.thread_id for t in parsed])
    complete = [t for t in parsed if not _needs_details(t, stored_state.get(t.thread_id))]
    # Threads we already hold entirely but whose payload lacks messages: store the thread fields only.
    ready = [t if t.complete else _without_messages(t) for t in complete]
    to_fetch = [t for t in parsed if _needs_details(t, stored_state.get(t.thread_id))]

    if to_fetch:
        hook.get_conn()  # build the session once, before threads share it

        def fetch(thread_id: str) -> tuple[str, Any]:
            try:
                return "ok", thread_from_payload(hook.get_thread(thread_id))
            except MalformedThread as exc:
                return "malformed", exc.reason
            except MiraklRetryableError as exc:
                return "transient", str(exc)
            except MiraklPermanentError as exc:
                return "permanent", str(exc)
            except Exception as exc:  # a malformed M10 body (MiraklResponseError) and the like
                from orderflow.hooks.mirakl_api import MiraklError

                if isinstance(exc, MiraklError):
                    return "malformed", str(exc)
                raise

        with ThreadPoolExecutor(max_workers=max(1, max_workers), thread_name_prefix="m10") as pool:
            results = list(pool.map(fetch, [t.thread_id for t in to_fetch]))
        report.threads_fetched = len(to_fetch)
        for listed, (outcome, value) in zip(to_fetch, results, strict=True):
            if outcome == "ok":
                ready.append(value)
                continue
            entry = {"thread_id": listed.thread_id, "reason": value}
            {"malformed": report.malformed, "transient": report.transient, "permanent": report.permanent}[
                outcome
            ].append(entry)
            held_back.append(listed.date_updated)

    counts = store.upsert_threads(ready)
    report.threads_stored = len(ready)
    report.writes = {
        "customers": counts.customers_written,
        "conversations_inserted": counts.conversations_inserted,
        "conversations_updated": counts.conversations_updated,
        "messages_inserted": counts.messages_inserted,
        "messages_updated": counts.messages_updated,
        "reply_flags_changed": counts.flags_changed,
    }

    # Advance to the newest date stored, but never past a thread we failed to store: the next
    # run's overlap window then starts before it and reads it again.
    if ready and None not in held_back:
        new_mark = max(t.date_updated for t in ready)
        if held_back:
            new_mark = min(new_mark, min(d for d in held_back if d is not None) - timedelta(microseconds=1))
        if watermark is None or new_mark > watermark:
            store.set_watermark(watermark_name, new_mark)
            report.watermark = new_mark
    return report


def _without_messages(thread: Any) -> Any:
    from dataclasses import replace

    return replace(thread, messages=None)


def _payload_date(payload: Any) -> datetime | None:
    from orderflow.hooks.mirakl_records import MalformedThread, parse_timestamp

    if not isinstance(payload, dict):
        return None
    try:
        return parse_timestamp(payload.get("date_updated") or payload.get("date_created"), "date", None)
    except MalformedThread:
        return None


class SyncMessagesOperator(BaseOperator):
    """Sync Mirakl message threads into ``customers``/``conversations``/``messages`` (M11, M10).

    :param watermark_name: ``sync_watermarks`` row holding the newest thread ``date_updated`` stored.
    :param overlap_minutes: re-read this much before the watermark (default: settings'
        ``ingest_overlap_minutes``).
    :param with_messages: ask M11 for messages (``with_messages=true``); M10 then runs only for
        threads with more than M11's last 100 messages. False: M11 lists, M10 fetches what changed.
    :param max_workers: concurrent M10 calls (default: settings' ``max_workers``).
    """

    ui_color = "#e8f1fb"

    def __init__(
        self,
        *,
        mirakl_conn_id: str = "mirakl_default",
        orderflow_conn_id: str = "orderflow_db",
        watermark_name: str = "mirakl_threads",
        overlap_minutes: float | None = None,
        initial_lookback_days: float | None = None,
        with_messages: bool = True,
        max_workers: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.mirakl_conn_id = mirakl_conn_id
        self.orderflow_conn_id = orderflow_conn_id
        self.watermark_name = watermark_name
        self.overlap_minutes = overlap_minutes
        self.initial_lookback_days = initial_lookback_days
        self.with_messages = with_messages
        self.max_workers = max_workers

    def execute(self, context: Any) -> dict[str, Any]:
        from orderflow.hooks.mirakl import MiraklHook
        from orderflow.settings import Settings
        from orderflow.store import OrderStore

        settings = Settings.load()
        hook = MiraklHook(mirakl_conn_id=self.mirakl_conn_id)
        store = OrderStore.from_conn_id(self.orderflow_conn_id)
        try:
            report = sync_inbox(
                hook,
                store,
                watermark_name=self.watermark_name,
                overlap=timedelta(minutes=self.overlap_minutes
                                  if self.overlap_minutes is not None else settings.ingest_overlap_minutes),
                initial_lookback=timedelta(days=self.initial_lookback_days
                                           if self.initial_lookback_days is not None
                                           else settings.ingest_initial_lookback_days),
                with_messages=self.with_messages,
                max_workers=self.max_workers or settings.max_workers,
            )
        finally:
            store.close()
            hook.close()
        self.log.info(
            "inbox sync since %s: %d threads listed, %d fetched (M10), %d stored; writes %s; watermark %s",
            report.since, report.threads_listed, report.threads_fetched, report.threads_stored,
            report.writes, report.watermark,
        )
        _raise_for_problems(
            self.log,
            "thread",
            transient=report.transient,
            permanent=report.permanent + report.malformed,
        )
        return report.as_xcom()


def _raise_for_problems(
    logger: Any, what: str, *, transient: Sequence[Mapping[str, Any]], permanent: Sequence[Mapping[str, Any]]
) -> None:
    """End the task: retryable when anything transient is left, failed when anything permanent is."""
    for item in permanent:
        logger.error("%s failed permanently: %s", what, dict(item))
    for item in transient:
        logger.warning("%s hit a transient error: %s", what, dict(item))
    ids = ", ".join(str(i.get("thread_id") or i.get("customer_message_id")) for i in [*permanent, *transient])
    if transient:
        # A retry re-does only what is left (the rest is stored), permanent ones are listed again.
        raise AirflowException(
            f"{len(transient)} {what}(s) hit transient API errors, {len(permanent)} failed permanently: {ids}"
        )
    if permanent:
        raise AirflowFailException(f"{len(permanent)} {what}(s) failed permanently (see log): {ids}")


# ------------------------------------------------------------------------------------------------
# Auto-reply
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AutoReplyRules:
    """The configurable rules (from ``Settings``), as one value the decision function reads."""

    only_outside_business_hours: bool
    first_contact_only: bool
    once_per_unanswered_stretch: bool
    max_message_age: timedelta | None


def auto_reply_skip_reason(
    candidate: Mapping[str, Any], rules: AutoReplyRules, hours: Any, now: datetime
) -> str | None:
    """Why this customer message gets no auto-reply, or None to send one (pure).

    ``candidate`` is a row of ``msg_auto_reply_candidates`` (its latest message is the customer's).
    ``hours`` is an ``orderflow.business_hours.BusinessHours``.
    """
    from orderflow.business_hours import is_business_time

    if not candidate.get("customer_id"):
        return "no_customer_id"  # M12 must address the customer by id
    sent_at: datetime = candidate["customer_message_at"]
    if rules.max_message_age is not None and now - sent_at > rules.max_message_age:
        return "too_old"
    if rules.first_contact_only and candidate.get("shop_has_written"):
        return "not_first_contact"
    if rules.once_per_unanswered_stretch and candidate.get("auto_reply_pending_human"):
        return "already_acknowledged"
    if rules.only_outside_business_hours and is_business_time(sent_at, hours):
        return "inside_business_hours"
    return None


@dataclass
class AutoReplyReport:
    candidates: int = 0
    intents_created: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    sent: list[dict[str, Any]] = field(default_factory=list)
    adopted: list[dict[str, Any]] = field(default_factory=list)      # crash leftovers found answered
    answered_meanwhile: list[dict[str, Any]] = field(default_factory=list)
    busy: int = 0                                                    # rows another worker holds
    permanent: list[dict[str, Any]] = field(default_factory=list)
    transient: list[dict[str, Any]] = field(default_factory=list)

    def as_xcom(self) -> dict[str, Any]:
        return {
            "candidates": self.candidates,
            "intents_created": self.intents_created,
            "skipped": self.skipped,
            "sent": len(self.sent),
            "adopted": len(self.adopted),
            "answered_meanwhile": len(self.answered_meanwhile),
            "busy": self.busy,
            "permanent": self.permanent,
            "transient": self.transient,
        }


def _shop_answer_after(thread: Mapping[str, Any], customer_mirakl_id: str | None, since: datetime) -> dict | None:
    """The first SHOP message after the customer's message in an M10 thread, if any."""
    from orderflow.hooks.mirakl_records import MalformedThread, parse_timestamp

    messages = [m for m in thread.get("messages") or [] if isinstance(m, dict)]
    after = messages
    ids = [m.get("id") for m in messages]
    if customer_mirakl_id in ids:
        after = messages[ids.index(customer_mirakl_id) + 1 :]
    for message in after:
        sender = message.get("from") if isinstance(message.get("from"), dict) else {}
        if sender.get("type") not in ("SHOP_USER", "SHOP"):
            continue
        try:
            at = parse_timestamp(message.get("date_created"), "date_created", None)
        except MalformedThread:
            at = None
        if customer_mirakl_id in ids or (at is not None and at >= since):
            return message
    return None


def send_auto_replies(
    hook: MiraklHook,
    store: OrderStore,
    settings: Settings,
    *,
    run_id: str | None,
    rules: AutoReplyRules,
    max_workers: int,
    batch_limit: int = 1000,
    now: datetime | None = None,
    render_context: Callable[..., dict[str, str]] | None = None,
    recheck_seconds: float | None = None,
) -> AutoReplyReport:
    """One auto-reply pass (see the module docstring).

    ``recheck_seconds`` (default: ``settings.reply_recheck_seconds``): a leftover ``intent`` whose last
    attempt is younger than this is not sent again even when the thread does not show it yet.
    """
    if recheck_seconds is None:
        recheck_seconds = float(settings.reply_recheck_seconds)
    from orderflow.business_hours import BusinessHours
    from orderflow.hooks.mirakl_api import MiraklError, MiraklPermanentError, MiraklRetryableError
    from orderflow.templates import order_context, render

    report = AutoReplyReport()
    now = now or datetime.now(UTC)
    hours = BusinessHours.from_settings(settings)

    template = store.get_reply_template(settings.auto_reply_template)
    if template is None or not template["enabled"] or not template["auto_reply"]:
        raise AirflowFailException(
            f"auto-reply template {settings.auto_reply_template!r} is missing, disabled or not marked auto_reply"
        )

    # 1. Decide and commit the ledger rows (intent with the exact text, or skipped + reason).
    candidates = store.auto_reply_candidates(limit=batch_limit)
    report.candidates = len(candidates)
    order_ids = sorted({c["order_id"] for c in candidates if c.get("order_id")})
    orders = store.get_orders(order_ids) if order_ids else {}
    shipments = store.shipments_for_orders(order_ids) if order_ids else {}
    build = render_context or order_context
    ledger_rows = []
    for cand in candidates:
        reason = auto_reply_skip_reason(cand, rules, hours, now)
        row = {
            "customer_message_id": cand["customer_message_id"],
            "conversation_id": cand["conversation_id"],
            "template_name": template["name"],
            "run_id": run_id,
            "body": None,
            "error": None,
        }
        if reason is None:
            context = build(
                customer_name=cand.get("customer_firstname") or cand.get("customer_display_name"),
                order=orders.get(cand.get("order_id")),
                shipments=shipments.get(cand.get("order_id"), []),
                shop_name=settings.shop_name,
                tracking_url_template=settings.tracking_url_template,
                timezone=settings.business_timezone,
                order_id=cand.get("order_id"),
            )
            body = render(template["body"], context).strip()
            if not body or len(body) > MAX_REPLY_CHARS:
                raise AirflowFailException(
                    f"auto-reply template {template['name']!r} renders to {len(body)} characters "
                    f"(Mirakl accepts 1..{MAX_REPLY_CHARS})"
                )
            row.update(status="intent", body=body)
        else:
            row.update(status="skipped", error={"reason": reason})
            report.skipped[reason] = report.skipped.get(reason, 0) + 1
        ledger_rows.append(row)
    created = store.create_auto_replies(ledger_rows)
    fresh = {r["customer_message_id"] for r in ledger_rows if r["status"] == "intent"} & created
    report.intents_created = len(fresh)

    # 2. Work every open row: our fresh intents, leftovers of crashed runs, this run's failures.
    open_rows = store.open_auto_replies(run_id)
    if not open_rows:
        return report
    hook.get_conn()  # build the session once, before threads share it

    def work(customer_message_id: int) -> tuple[str, dict[str, Any]]:
        with store.claim_auto_reply(customer_message_id, statuses=("intent", "failed")) as claim:
            if claim is None:
                return "busy", {"customer_message_id": customer_message_id}
            row = claim.row
            info = {"customer_message_id": customer_message_id, "thread_id": row["mirakl_thread_id"]}
            if row["status"] == "failed" and row["run_id"] != run_id:
                return "busy", info  # another run's failure: a person decides (clear that run)
            if customer_message_id not in fresh:
                # Not created just now: an earlier attempt may have sent it. Look before sending.
                try:
                    thread = hook.get_thread(row["mirakl_thread_id"])
                except MiraklRetryableError as exc:
                    claim.keep_intent({"operation": "M10", "error": str(exc)}, run_id)
                    return "transient", {**info, "reason": str(exc)}
                except MiraklError as exc:
                    claim.record_failed({"operation": "M10", "error": str(exc), "codes": list(exc.codes)}, run_id)
                    return "permanent", {**info, "reason": str(exc)}
                answer = _shop_answer_after(thread, row["customer_mirakl_message_id"], row["customer_message_at"])
                if answer is not None:
                    from orderflow.hooks.mirakl_records import parse_timestamp

                    sent_at = parse_timestamp(answer.get("date_created"), "date_created", None, required=False)
                    if row["body"] is not None and answer.get("body") == row["body"]:
                        claim.record_sent(
                            mirakl_message_id=answer["id"], body=row["body"], run_id=run_id, sent_at=sent_at,
                            sender_name=(answer.get("from") or {}).get("display_name"),
                        )
                        return "adopted", {**info, "mirakl_message_id": answer["id"]}
                    claim.record_skipped("answered_meanwhile", run_id, mirakl_message_id=answer.get("id"))
                    return "answered_meanwhile", {**info, "mirakl_message_id": answer.get("id")}
                in_doubt = row["status"] == "intent" and int(row.get("attempts") or 0) > 0
                if in_doubt and float(row.get("seconds_since_update") or 0.0) < recheck_seconds:
                    # An attempt in doubt is too recent for "not in the thread" to mean "not sent"
                    # (Best Buy may still be processing it): wait (the row is left as it is, so the
                    # wait does not grow), the next try reads the thread again.
                    return "transient", {**info, "reason": f"M12 in doubt: re-read after {recheck_seconds:g} s"}
            try:
                created_msg = hook.reply_to_thread(row["mirakl_thread_id"], row["body"], row["customer_id"])
            except MiraklRetryableError as exc:
                # Maybe sent (timeout, dropped answer): the row stays intent; the retry reads M10 first.
                claim.keep_intent({"operation": "M12", "error": str(exc)}, run_id)
                return "transient", {**info, "reason": str(exc)}
            except MiraklPermanentError as exc:
                claim.record_failed({"operation": "M12", "error": str(exc), "codes": list(exc.codes)}, run_id)
                return "permanent", {**info, "reason": str(exc)}
            except MiraklError as exc:
                # A 2xx we could not read (malformed body): the reply probably exists. Same as a timeout.
                claim.keep_intent({"operation": "M12", "error": str(exc)}, run_id)
                return "transient", {**info, "reason": str(exc)}
            claim.record_sent(mirakl_message_id=created_msg["message_id"], body=row["body"], run_id=run_id)
            return "sent", {**info, "mirakl_message_id": created_msg["message_id"]}

    ids = [int(r["customer_message_id"]) for r in open_rows]
    with ThreadPoolExecutor(max_workers=max(1, max_workers), thread_name_prefix="m12") as pool:
        outcomes = list(pool.map(work, ids))
    for outcome, info in outcomes:
        if outcome == "busy":
            report.busy += 1
        else:
            getattr(report, outcome).append(info)
    return report


class AutoReplyOperator(BaseOperator):
    """Send at most one templated reply per customer message awaiting an answer (M12).

    Rules come from settings (``auto_reply_enabled``, ``auto_reply_only_outside_business_hours``,
    ``auto_reply_first_contact_only``, ``auto_reply_template``, business hours); the keyword
    arguments below cover what settings do not.

    :param once_per_unanswered_stretch: no second auto-reply while an earlier one still waits for
        a human answer in that conversation (the customer already knows we will answer).
    :param max_message_age_hours: customer messages older than this get no auto-reply (an
        acknowledgement days later helps nobody; the inbox shows them). None: no limit.
    :param max_workers: concurrent M12 calls (default: settings' ``max_workers``).
    """

    ui_color = "#e8f1fb"

    def __init__(
        self,
        *,
        mirakl_conn_id: str = "mirakl_default",
        orderflow_conn_id: str = "orderflow_db",
        once_per_unanswered_stretch: bool = True,
        max_message_age_hours: float | None = 72.0,
        max_workers: int | None = None,
        batch_limit: int = 1000,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.mirakl_conn_id = mirakl_conn_id
        self.orderflow_conn_id = orderflow_conn_id
        self.once_per_unanswered_stretch = once_per_unanswered_stretch
        self.max_message_age_hours = max_message_age_hours
        self.max_workers = max_workers
        self.batch_limit = batch_limit

    def execute(self, context: Any) -> dict[str, Any]:
        from orderflow.hooks.mirakl import MiraklHook
        from orderflow.settings import Settings
        from orderflow.store import OrderStore

        settings = Settings.load()
        if not settings.auto_reply_enabled:
            self.log.info("auto-replies are disabled (orderflow_auto_reply_enabled): nothing to do")
            return {"enabled": False}
        rules = AutoReplyRules(
            only_outside_business_hours=settings.auto_reply_only_outside_business_hours,
            first_contact_only=settings.auto_reply_first_contact_only,
            once_per_unanswered_stretch=self.once_per_unanswered_stretch,
            max_message_age=timedelta(hours=self.max_message_age_hours)
            if self.max_message_age_hours is not None else None,
        )
        run_id = context.get("run_id") if isinstance(context, Mapping) else None
        workers = max(1, self.max_workers or settings.max_workers)
        hook = MiraklHook(mirakl_conn_id=self.mirakl_conn_id)
        # Each worker holds a pooled connection (the ledger row lock) during its M12 call; the
        # pool does not wait when exhausted, so it must be larger than the worker count.
        store = OrderStore.from_conn_id(self.orderflow_conn_id, max_connections=workers + 2)
        try:
            report = send_auto_replies(
                hook,
                store,
                settings,
                run_id=run_id,
                rules=rules,
                max_workers=workers,
                batch_limit=self.batch_limit,
            )
        finally:
            store.close()
            hook.close()
        self.log.info(
            "auto-replies: %d candidates, %d new intents, %d sent, %d adopted after a crash, %d answered "
            "meanwhile, %d held by another worker, skipped %s",
            report.candidates, report.intents_created, len(report.sent), len(report.adopted),
            len(report.answered_meanwhile), report.busy, report.skipped,
        )
        _raise_for_problems(self.log, "auto-reply", transient=report.transient, permanent=report.permanent)
        return report.as_xcom()
