"""auto-reply: at most one templated reply (M12) per customer message awaiting an answer.

Candidates: conversations Mirakl says need a shop answer whose latest message is the customer's
(never the operator's, never ours) and that have no ``auto_replies`` row yet. Rules:
``Settings.auto_reply_enabled``; ``auto_reply_only_outside_business_hours`` (the customer's message
arrived outside business hours); ``auto_reply_first_contact_only`` (the shop has never written in
the thread); one acknowledgement per unanswered stretch (no second auto-reply while the previous one
still waits for a human); a maximum message age. A message a rule excludes gets a ``skipped`` ledger
row with the reason (an audit trail, and it is not re-evaluated).

Exactly once per customer message: the ledger row (``intent``, with the exact text) is committed
before M12 and locked during the call; a leftover ``intent`` (a crashed or timed-out attempt) is
resolved by reading the thread (M10): a shop message after the customer's means "already answered"
(ours if the text matches: adopted as the auto-reply; a person's: skipped). A leftover ``intent`` the
thread does not show is sent again only once its last attempt is ``Settings.reply_recheck_seconds``
old (the same rule as agents' replies, orderflow.replies); until then it waits (transient).

Outcomes follow the step framework (``operators/step.py``), one item per customer message: a
permanent M10/M12 error marks the row ``failed`` with this run's id and fails the task at the end
listing them (clearing the task re-attempts exactly this run's failures; scheduled runs leave them
to a person); a transient one keeps ``intent`` and the task retries; an error about the Mirakl
Connection (refused credentials, a wrong URL) stops the step and leaves the row as it was (M12 was
not applied), so no message is recorded failed. A surprise between M12 and our commit is not
contained: the row stays ``intent`` and the next try reads the thread first.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowFailException

from orderflow.lifecycle import AR, AUTO_REPLY_REWORKABLE
from orderflow.operators.step import StepOperator

if TYPE_CHECKING:
    from airflow.sdk import Context

    from orderflow.business_hours import BusinessHours
    from orderflow.hooks.mirakl import MiraklHook
    from orderflow.settings import Settings

# Mirakl's M12 body limit (sheet §7); a longer rendered template is a seller's template error.
MAX_REPLY_CHARS = 50_000


@dataclass(frozen=True)
class AutoReplyRules:
    """The configurable rules (from ``Settings``), as one value the decision function reads."""

    only_outside_business_hours: bool
    first_contact_only: bool
    once_per_unanswered_stretch: bool
    max_message_age: timedelta | None


def auto_reply_skip_reason(
    candidate: Mapping[str, Any], rules: AutoReplyRules, hours: BusinessHours, now: datetime
) -> str | None:
    """Why this customer message gets no auto-reply, or None to send one (pure).

    ``candidate`` is a row of ``msg_auto_reply_candidates`` (its latest message is the customer's).
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


def shop_answer_after(
    thread: Mapping[str, Any], customer_mirakl_id: str | None, since: datetime
) -> dict[str, Any] | None:
    """The first SHOP message after the customer's message in an M10 thread, if any."""
    from orderflow.hooks.mirakl_records import MalformedThread, parse_timestamp

    messages = [m for m in thread.get("messages") or [] if isinstance(m, dict)]
    after = messages
    ids = [m.get("id") for m in messages]
    if customer_mirakl_id in ids:
        after = messages[ids.index(customer_mirakl_id) + 1 :]
    for message in after:
        sender = message.get("from")
        if not isinstance(sender, dict):
            sender = {}
        if sender.get("type") not in ("SHOP_USER", "SHOP"):
            continue
        try:
            at = parse_timestamp(message.get("date_created"), "date_created", None)
        except MalformedThread:
            at = None
        if customer_mirakl_id in ids or (at is not None and at >= since):
            return message
    return None


@dataclass
class LedgerCounts:
    """What the decision phase did (the XCom, with the step result's outcomes per message)."""

    candidates: int = 0
    intents_created: int = 0
    skipped: dict[str, int] = field(default_factory=dict)


class AutoReplyOperator(StepOperator):
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

    step = "auto_reply"
    ui_color = "#e8f1fb"

    def __init__(
        self,
        *,
        once_per_unanswered_stretch: bool = True,
        max_message_age_hours: float | None = 72.0,
        batch_limit: int = 1000,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.once_per_unanswered_stretch = once_per_unanswered_stretch
        self.max_message_age_hours = max_message_age_hours
        self.batch_limit = batch_limit

    def rules(self, settings: Settings) -> AutoReplyRules:
        return AutoReplyRules(
            only_outside_business_hours=settings.auto_reply_only_outside_business_hours,
            first_contact_only=settings.auto_reply_first_contact_only,
            once_per_unanswered_stretch=self.once_per_unanswered_stretch,
            max_message_age=timedelta(hours=self.max_message_age_hours)
            if self.max_message_age_hours is not None else None,
        )

    def run_step(self, context: Context) -> None:
        from orderflow.hooks.mirakl import MiraklHook

        self.counts = LedgerCounts()
        self.enabled = self.settings.auto_reply_enabled
        if not self.enabled:
            self.log.info("auto-replies are disabled (orderflow_auto_reply_enabled): nothing to do")
            return
        hook = MiraklHook(mirakl_conn_id=self.mirakl_conn_id)
        try:
            fresh = self.decide(self.rules(self.settings))
            self.send(hook, fresh, recheck_seconds=float(self.settings.reply_recheck_seconds))
        finally:
            hook.close()
        c, r = self.counts, self.result
        outcomes = list(r.done.values())
        self.log.info(
            "auto-replies: %d candidates, %d new intents, %d sent, %d adopted after a crash, %d answered "
            "meanwhile, %d held by another worker, skipped %s",
            c.candidates, c.intents_created, outcomes.count("sent"), outcomes.count("adopted"),
            outcomes.count("answered_meanwhile"), len(r.waiting), c.skipped,
        )

    # -- 1. decide and commit the ledger rows (intent with the exact text, or skipped + reason) ------
    def decide(self, rules: AutoReplyRules, now: datetime | None = None) -> set[int]:
        """The customer messages that got a fresh ``intent`` row just now."""
        from orderflow.business_hours import BusinessHours
        from orderflow.templates import order_context, render

        settings, store, c = self.settings, self.store, self.counts
        now = now or datetime.now(UTC)
        hours = BusinessHours.from_settings(settings)
        template = store.get_reply_template(settings.auto_reply_template)
        if template is None or not template["enabled"] or not template["auto_reply"]:
            raise AirflowFailException(
                f"auto-reply template {settings.auto_reply_template!r} is missing, disabled or not marked auto_reply"
            )
        candidates = store.auto_reply_candidates(limit=self.batch_limit)
        c.candidates = len(candidates)
        order_ids = sorted({cand["order_id"] for cand in candidates if cand.get("order_id")})
        orders = store.get_orders(order_ids) if order_ids else {}
        shipments = store.shipments_for_orders(order_ids) if order_ids else {}
        ledger_rows = []
        for cand in candidates:
            reason = auto_reply_skip_reason(cand, rules, hours, now)
            row: dict[str, Any] = {
                "customer_message_id": cand["customer_message_id"],
                "conversation_id": cand["conversation_id"],
                "template_name": template["name"],
                "run_id": self.run_id,
                "body": None,
                "error": None,
            }
            if reason is None:
                order_id = cand.get("order_id")
                context = order_context(
                    customer_name=cand.get("customer_firstname") or cand.get("customer_display_name"),
                    order=orders.get(order_id) if order_id else None,
                    shipments=shipments.get(order_id, []) if order_id else [],
                    shop_name=settings.shop_name,
                    tracking_url_template=settings.tracking_url_template,
                    timezone=settings.business_timezone,
                    order_id=order_id,
                )
                body = render(template["body"], context).strip()
                if not body or len(body) > MAX_REPLY_CHARS:
                    raise AirflowFailException(
                        f"auto-reply template {template['name']!r} renders to {len(body)} characters "
                        f"(Mirakl accepts 1..{MAX_REPLY_CHARS})"
                    )
                row.update(status=AR.INTENT, body=body)
            else:
                row.update(status=AR.SKIPPED, error={"reason": reason})
                c.skipped[reason] = c.skipped.get(reason, 0) + 1
            ledger_rows.append(row)
        created = store.create_auto_replies(ledger_rows)
        fresh = {r["customer_message_id"] for r in ledger_rows if r["status"] == AR.INTENT} & created
        c.intents_created = len(fresh)
        return fresh

    # -- 2. work every open row: our fresh intents, leftovers of crashed runs, this run's failures ---
    def send(self, hook: MiraklHook, fresh: set[int], *, recheck_seconds: float) -> None:
        """``recheck_seconds``: a leftover ``intent`` whose last attempt is younger than this is not
        sent again even when the thread does not show it yet."""
        open_rows = self.store.open_auto_replies(self.run_id)
        if not open_rows:
            return
        hook.get_conn()  # build the session once, before threads share it
        ids = [int(r["customer_message_id"]) for r in open_rows]
        # Not contained: an unexpected error may come after M12 answered (the row stays intent and
        # the next try reads the thread before anything is sent again).
        self.for_each(ids, lambda cmid: self.reply(hook, cmid, fresh, recheck_seconds), key=str,
                      contain_unexpected=False)

    def reply(self, hook: MiraklHook, customer_message_id: int, fresh: set[int], recheck_seconds: float) -> None:
        from orderflow.hooks.mirakl_errors import MiraklError, MiraklPermanentError, MiraklRetryableError
        from orderflow.hooks.mirakl_records import parse_timestamp

        run_id, r, key = self.run_id, self.result, str(customer_message_id)
        with self.store.claim_auto_reply(customer_message_id, statuses=tuple(AUTO_REPLY_REWORKABLE)) as claim:
            if claim is None:
                r.record_waiting(key, "another worker holds it")
                return
            row = claim.row
            thread_id = row["mirakl_thread_id"]
            if row["status"] == AR.FAILED and row["run_id"] != run_id:
                r.record_waiting(key, "another run's failure: a person decides (clear that run)")
                return
            if customer_message_id not in fresh:
                # Not created just now: an earlier attempt may have sent it. Look before sending.
                try:
                    thread = hook.get_thread(thread_id)
                except MiraklRetryableError as exc:
                    claim.keep_intent({"operation": "M10", "error": str(exc)}, run_id)
                    r.record_transient(key, f"M10 {thread_id}: {exc}")
                    return
                except MiraklError as exc:
                    self.triage(exc, "Mirakl")  # the Connection's fault: the row stays as it was
                    claim.record_failed({"operation": "M10", "error": str(exc), "codes": list(exc.codes)}, run_id)
                    self.failed(key, thread_id, "M10", exc)
                    return
                answer = shop_answer_after(thread, row["customer_mirakl_message_id"], row["customer_message_at"])
                if answer is not None:
                    sent_at = parse_timestamp(answer.get("date_created"), "date_created", None, required=False)
                    if row["body"] is not None and answer.get("body") == row["body"]:
                        claim.record_sent(
                            mirakl_message_id=answer["id"], body=row["body"], run_id=run_id, sent_at=sent_at,
                            sender_name=(answer.get("from") or {}).get("display_name"),
                        )
                        r.record_done(key, "adopted")
                        return
                    claim.record_skipped("answered_meanwhile", run_id, mirakl_message_id=answer.get("id"))
                    r.record_done(key, "answered_meanwhile")
                    return
                in_doubt = row["status"] == AR.INTENT and int(row.get("attempts") or 0) > 0
                if in_doubt and float(row.get("seconds_since_update") or 0.0) < recheck_seconds:
                    # An attempt in doubt is too recent for "not in the thread" to mean "not sent"
                    # (Best Buy may still be processing it): wait (the row is left as it is, so the
                    # wait does not grow), the next try reads the thread again.
                    r.record_transient(key, f"M12 in doubt: re-read after {recheck_seconds:g} s")
                    return
            try:
                created = hook.reply_to_thread(thread_id, row["body"], row["customer_id"])
            except MiraklRetryableError as exc:
                # Maybe sent (timeout, dropped answer): the row stays intent; the retry reads M10 first.
                claim.keep_intent({"operation": "M12", "error": str(exc)}, run_id)
                r.record_transient(key, f"M12 {thread_id}: {exc}")
                return
            except MiraklPermanentError as exc:
                self.triage(exc, "Mirakl")  # the Connection's fault: nothing was sent, the row stays
                claim.record_failed({"operation": "M12", "error": str(exc), "codes": list(exc.codes)}, run_id)
                self.failed(key, thread_id, "M12", exc)
                return
            except MiraklError as exc:
                # A 2xx we could not read (malformed body): the reply probably exists. Same as a timeout.
                claim.keep_intent({"operation": "M12", "error": str(exc)}, run_id)
                r.record_transient(key, f"M12 {thread_id}: {exc}")
                return
            claim.record_sent(mirakl_message_id=created["message_id"], body=row["body"], run_id=run_id)
            r.record_done(key, "sent")

    def failed(self, key: str, thread_id: str, operation: str, exc: Exception) -> None:
        self.result.record_failed(key, {"customer_message_id": int(key), "thread_id": thread_id,
                                        "operation": operation, "reason": str(exc),
                                        "codes": list(getattr(exc, "codes", ()) or ())})

    # -- verdict --------------------------------------------------------------------------------
    failed_log_prefix = "NOT SENT"
    transient_log_template = "auto-reply hit a transient error, left for the next try: %s: %s"

    def failure_line(self, key: str, detail: dict[str, Any]) -> str:
        return (f"  message {key} (thread {detail.get('thread_id')}): {detail.get('operation')} refused: "
                f"{detail.get('reason')} {detail.get('codes') or ''}").rstrip()

    def failed_message(self, count: int) -> str:
        return f"{self.step}: {count} auto-reply(s) failed permanently (clear this task to re-attempt them):\n"

    def transient_message(self, count: int) -> str:
        return f"{self.step}: {count} auto-reply(s) hit transient API errors and stay open; retrying: "

    def xcom(self) -> dict[str, Any]:
        if not self.enabled:
            return {"enabled": False}
        c, r = self.counts, self.result
        outcomes = list(r.done.values())
        return {
            "candidates": c.candidates,
            "intents_created": c.intents_created,
            "skipped": c.skipped,
            "sent": outcomes.count("sent"),
            "adopted": outcomes.count("adopted"),
            "answered_meanwhile": outcomes.count("answered_meanwhile"),
            "busy": len(r.waiting),
            "permanent": [r.failed[key] for key in sorted(r.failed)],
            "transient": [{"customer_message_id": int(key), "reason": why} for key, why in sorted(r.transient.items())],
        }

