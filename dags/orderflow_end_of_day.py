"""orderflow_end_of_day: the Canada Post close of day at the cut-off (see doc_md below)."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG
from airflow.timetables.trigger import CronTriggerTimetable

from orderflow.mailing_day import CutOff
from orderflow.operators.end_of_day import CloseDayOperator
from orderflow.settings import Settings

# Environment only: a parse must not read Airflow Variables (a metadata-DB round trip per parse).
settings = Settings.from_environment()
cutoff = CutOff.from_settings(settings)

DOC = f"""
### orderflow end of day

At the cut-off ({cutoff.at:%H:%M} {cutoff.timezone}, mailing days {sorted(cutoff.days)}; settings
`EOD_CUTOFF`, `EOD_TIMEZONE`, `MAILING_DAYS`) every Canada Post group of the mailing days whose cut-off
has passed is **transmitted exactly once** (Transmit Shipments, manifest v8), its manifests are read,
their PDFs validated and stored beside the labels, and each shipment is tied to its manifest.

- A label bought after the cut-off, or while its day's group is being transmitted, joins the next group.
- The transmit is recorded (`transmitting`) before the call; after any doubt (timeout, dropped answer,
  5xx) the manifests are read back by date before anything is sent again. A group is never sent twice.
- Until its group is transmitted a canceled order's label is voided; after it, a refund is requested.
- The "Close the day" page (Pack Supervisor) runs the same close on demand and prints the manifests.
- Trigger with conf `{{"through": "YYYY-MM-DD"}}` to close the mailing days up to that date.

**Red run?** The log lists the groups or manifests a person must look at (a refused transmit, a
manifest PDF that failed its check); clearing the task re-attempts them. Transient errors retry.
"""

with DAG(
    dag_id="orderflow_end_of_day",
    description="Canada Post close of day: transmit the day's groups, store the manifests",
    doc_md=DOC,
    schedule=CronTriggerTimetable(cutoff.cron(), timezone=cutoff.timezone),
    start_date=datetime(2025, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args={
        "owner": "orderflow",
        "retries": max(2, settings.task_retries),
        "retry_delay": timedelta(seconds=settings.task_retry_delay_seconds),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=15),
        "execution_timeout": timedelta(minutes=settings.task_timeout_minutes),
    },
    tags=["orderflow", "canadapost", "end-of-day"],
) as dag:
    CloseDayOperator(task_id="close_day")
