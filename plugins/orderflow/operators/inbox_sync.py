"""inbox sync: bring Best Buy's message threads into ``customers``/``conversations``/``messages`` (M11, M10).

M11 from a stored watermark minus an overlap (Mirakl's dates are the server's; re-reading a few
minutes is cheaper than missing a message), M10 only for threads whose payload lacks messages we do
not already hold (at most ``max_workers`` at once), batched UPSERTs that write nothing for data we
already have.

Outcomes follow the step framework (``operators/step.py``), one item per thread:

- a malformed thread (in M11's list or M10's answer) or one M10 refuses (404...) is *failed*: listed,
  not stored, the rest is stored; the watermark then stops before it, so every later run reads it
  again (clearing the task too); the task ends failed listing the threads;
- transient API trouble on M10 after the hook's own retries: the thread is *transient*, not stored,
  the watermark stops before it and the task retries;
- an error about the Mirakl Connection (refused credentials, a wrong URL) stops the step: the task
  fails naming the Connection; nothing is recorded failed.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from orderflow.operators.step import StepOperator

if TYPE_CHECKING:
    from airflow.sdk import Context

    from orderflow.hooks.mirakl import MiraklHook
    from orderflow.hooks.mirakl_records import ThreadRecord
    from orderflow.store import Row

MALFORMED = "malformed"  # failure kinds, in the XCom's "malformed" / "permanent" lists
REFUSED = "refused"


@dataclass
class SyncCounts:
    """What one sync read and wrote (the XCom, with the step result's failed and transient threads)."""

    since: datetime | None = None
    threads_listed: int = 0
    threads_fetched: int = 0          # M10 calls
    threads_stored: int = 0
    writes: dict[str, int] = field(default_factory=dict)
    watermark: datetime | None = None


def needs_details(thread: ThreadRecord, stored: Row | None) -> bool:
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


def payload_date(payload: Any) -> datetime | None:
    """The date of a thread payload we could not parse (None when it has no readable one)."""
    from orderflow.hooks.mirakl_records import MalformedThread, parse_timestamp

    if not isinstance(payload, dict):
        return None
    try:
        return parse_timestamp(payload.get("date_updated") or payload.get("date_created"), "date", None)
    except MalformedThread:
        return None


class SyncMessagesOperator(StepOperator):
    """Sync Mirakl message threads into ``customers``/``conversations``/``messages`` (M11, M10).

    :param watermark_name: ``sync_watermarks`` row holding the newest thread ``date_updated`` stored.
    :param overlap_minutes: re-read this much before the watermark (default: settings'
        ``ingest_overlap_minutes``).
    :param with_messages: ask M11 for messages (``with_messages=true``); M10 then runs only for
        threads with more than M11's last 100 messages. False: M11 lists, M10 fetches what changed.
    :param max_workers: concurrent M10 calls (default: settings' ``max_workers``).
    """

    step = "inbox_sync"
    ui_color = "#e8f1fb"

    def __init__(
        self,
        *,
        watermark_name: str = "mirakl_threads",
        overlap_minutes: float | None = None,
        initial_lookback_days: float | None = None,
        with_messages: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.watermark_name = watermark_name
        self.overlap_minutes = overlap_minutes
        self.initial_lookback_days = initial_lookback_days
        self.with_messages = with_messages

    def run_step(self, context: Context) -> None:
        from orderflow.hooks.mirakl import MiraklHook

        s = self.settings
        hook = MiraklHook(mirakl_conn_id=self.mirakl_conn_id)
        self.counts = SyncCounts()
        try:
            self.sync(
                hook,
                overlap=timedelta(minutes=self.overlap_minutes
                                  if self.overlap_minutes is not None else s.ingest_overlap_minutes),
                initial_lookback=timedelta(days=self.initial_lookback_days
                                           if self.initial_lookback_days is not None
                                           else s.ingest_initial_lookback_days),
            )
        finally:
            hook.close()
        c = self.counts
        self.log.info(
            "inbox sync since %s: %d threads listed, %d fetched (M10), %d stored; writes %s; watermark %s",
            c.since, c.threads_listed, c.threads_fetched, c.threads_stored, c.writes, c.watermark,
        )

    def sync(self, hook: MiraklHook, *, overlap: timedelta, initial_lookback: timedelta) -> None:
        """One sync pass (see the module docstring). Never raises for a single bad thread."""
        from orderflow.hooks.mirakl_records import MalformedThread, thread_from_payload

        c = self.counts
        now = datetime.now(UTC)
        watermark = self.store.get_watermark(self.watermark_name)
        c.since = (watermark - overlap) if watermark else (now - initial_lookback)

        try:
            payloads = hook.list_threads(updated_since=c.since, with_messages=self.with_messages)
        except Exception as exc:
            self.triage(exc, "Mirakl")
            raise  # nothing listed, nothing stored: the API's own error decides whether Airflow retries
        c.threads_listed = len(payloads)

        parsed: list[ThreadRecord] = []
        # Dates of threads we could not store: the watermark must not pass them.
        held_back: list[datetime | None] = []
        for payload in payloads:
            try:
                parsed.append(thread_from_payload(payload))
            except MalformedThread as exc:
                key = exc.thread_id or f"<no id #{len(held_back) + 1}>"
                self.result.record_failed(key, {"kind": MALFORMED, "reason": exc.reason})
                held_back.append(payload_date(payload))

        stored_state = self.store.conversation_sync_state([t.thread_id for t in parsed])
        to_fetch = [t for t in parsed if needs_details(t, stored_state.get(t.thread_id))]
        fetching = {t.thread_id for t in to_fetch}
        # Threads we already hold entirely but whose payload lacks messages: store the thread fields only.
        ready = [t if t.complete else replace(t, messages=None) for t in parsed if t.thread_id not in fetching]

        if to_fetch:
            hook.get_conn()  # build the session once, before threads share it
            fetched = self.fetch_details(hook, [t.thread_id for t in to_fetch])
            c.threads_fetched = len(to_fetch)
            for listed in to_fetch:
                if listed.thread_id in fetched:
                    ready.append(fetched[listed.thread_id])
                else:
                    held_back.append(listed.date_updated)

        counts = self.store.upsert_threads(ready)
        c.threads_stored = len(ready)
        c.writes = {
            "customers": counts.customers_written,
            "conversations_inserted": counts.conversations_inserted,
            "conversations_updated": counts.conversations_updated,
            "messages_inserted": counts.messages_inserted,
            "messages_updated": counts.messages_updated,
            "reply_flags_changed": counts.flags_changed,
        }
        for thread in ready:
            self.result.record_done(thread.thread_id, "stored")

        # Advance to the newest date stored, but never past a thread we failed to store: the next
        # run's overlap window then starts before it and reads it again.
        if ready and None not in held_back:
            new_mark = max(t.date_updated for t in ready)
            if held_back:
                new_mark = min(new_mark, min(d for d in held_back if d is not None) - timedelta(microseconds=1))
            if watermark is None or new_mark > watermark:
                self.store.set_watermark(self.watermark_name, new_mark)
                c.watermark = new_mark

    def fetch_details(self, hook: MiraklHook, thread_ids: list[str]) -> dict[str, ThreadRecord]:
        """M10 for each thread (``max_workers`` at once): the threads read; the others are recorded
        failed (malformed, refused) or transient."""
        from orderflow.hooks.mirakl_errors import MiraklError, MiraklRetryableError
        from orderflow.hooks.mirakl_records import MalformedThread, thread_from_payload

        fetched: dict[str, ThreadRecord] = {}

        def fetch(thread_id: str) -> None:
            try:
                fetched[thread_id] = thread_from_payload(hook.get_thread(thread_id))
            except MalformedThread as exc:
                self.result.record_failed(thread_id, {"kind": MALFORMED, "reason": exc.reason})
            except MiraklError as exc:
                kind = self.triage(exc, "Mirakl")
                if isinstance(exc, MiraklRetryableError):
                    self.result.record_transient(thread_id, str(exc))
                elif kind == "permanent":  # M10 refused (404...)
                    self.result.record_failed(thread_id, {"kind": REFUSED, "reason": str(exc)})
                else:  # a 2xx M10 body we could not read (MiraklResponseError): the payload is broken
                    self.result.record_failed(thread_id, {"kind": MALFORMED, "reason": str(exc)})

        self.for_each(thread_ids, fetch, key=str)
        return fetched

    # -- verdict --------------------------------------------------------------------------------
    failed_log_prefix = "NOT STORED"
    transient_log_template = "thread hit a transient error, not stored: %s: %s"

    def failure_line(self, key: str, detail: dict[str, Any]) -> str:
        return f"  {key}: {detail.get('kind')}: {detail.get('reason')}"

    def failed_message(self, count: int) -> str:
        return (f"{self.step}: {count} thread(s) failed permanently and were not stored (every run reads "
                "them again until they can be):\n")

    def transient_message(self, count: int) -> str:
        return f"{self.step}: {count} thread(s) hit transient API errors and were not stored; retrying: "

    def xcom(self) -> dict[str, Any]:
        c, r = self.counts, self.result

        def failed(kind: str) -> list[dict[str, str | None]]:
            return [{"thread_id": key, "reason": d.get("reason")} for key, d in sorted(r.failed.items())
                    if d.get("kind") == kind]

        return {
            "since": c.since.isoformat() if c.since else None,
            "threads_listed": c.threads_listed,
            "threads_fetched": c.threads_fetched,
            "threads_stored": c.threads_stored,
            "writes": c.writes,
            "watermark": c.watermark.isoformat() if c.watermark else None,
            "malformed": failed(MALFORMED),
            "permanent": failed(REFUSED),
            "transient": [{"thread_id": key, "reason": why} for key, why in sorted(r.transient.items())],
        }
