"""orderflow_core: the seller's back office, every 15 minutes (see doc_md below)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from airflow.sdk import DAG, TaskGroup, TriggerRule

from orderflow.operators import (
    AcceptOrdersOperator,
    BuyLabelsOperator,
    IngestOrdersOperator,
    PushTrackingOperator,
    RunVerdictOperator,
    VoidCanceledLabelsOperator,
)
from orderflow.operators.auto_reply import AutoReplyOperator
from orderflow.operators.inbox_sync import SyncMessagesOperator
from orderflow.operators.returns import SettleMoneyOperator, SyncReturnsOperator
from orderflow.settings import Settings

if TYPE_CHECKING:
    from airflow.sdk.definitions.mappedoperator import MappedOperator

    from orderflow.operators.base import OrderStepOperator

# Environment only: a parse must not read Airflow Variables (a metadata-DB round trip per parse).
settings = Settings.from_environment()

DOC = """
### orderflow core

Best Buy Canada Marketplace (Mirakl) orders to Canada Post labels to "shipped", plus the customer inbox.

- **ingest**: OR11 by update date since the watermark (minus overlap); upsert orders and lines.
  New orders -> `pending_acceptance`; canceled/refused at Best Buy -> `canceled`/`refused`.
- **acceptance**: OR21 every line, then OR11 polls until the order left WAITING_ACCEPTANCE.
  `pending_acceptance` -> `accepted` / `acceptance_failed`.
- **shipping**: once Best Buy shows SHIPPING, an exactly-once Canada Post label, validated and stored.
  `accepted` -> `label_created` / `label_failed` / `canceled`.
  Then the labels of orders canceled after their label was bought are voided at Canada Post (or a
  refund is requested when only that is possible); the shipment row records it, the order stays `canceled`.
- **tracking**: OR23 (CPCL + PIN), then OR24.
  `label_created` (or `packed` with the pack gate) -> `shipped` / `tracking_failed`.
- **messaging**: inbox sync, then templated auto-replies (conversations, beside the order steps).
- **returns**: RT11 returns into `returns` (at most every 5 minutes), and refund/cancelation intents left open
  (a page request cut short, Best Buy down) read back from Best Buy and finished, exactly once.

Each step claims its orders (overlapping runs never work one order twice), works them in batches
with bounded concurrency, and writes one history row per outcome carrying this run's id.

**Red run?** A step that failed orders permanently lists them in its log; a person fixes the cause
and **clears that task**: the new try moves the orders *this run* failed back to their input state
and re-attempts them. Scheduled runs never retry `*_failed` orders by themselves. Transient API
errors (429, 5xx, timeouts) leave orders where they were and the task retries with backoff.

**Shards** (`ORDERFLOW_SHARDS`, default 1): acceptance, shipping (both tasks) and tracking run as
that many mapped task instances, each claiming only its shard of the orders (a stable hash of the
order id), so several Celery workers share one run; a cleared shard re-attempts only its own orders.

`max_active_runs=1`: one run at a time keeps the API budgets (OR11 once a minute, Canada Post
throttle groups) predictable; a cleared task of an older run or a manual trigger may still overlap a
scheduled run, which the claims make safe.
"""

default_args = {
    "owner": "orderflow",
    "retries": max(2, settings.task_retries),
    "retry_delay": timedelta(seconds=settings.task_retry_delay_seconds),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=15),
    "execution_timeout": timedelta(minutes=settings.task_timeout_minutes),
}


def order_step(operator: type[OrderStepOperator], task_id: str) -> OrderStepOperator | MappedOperator:
    """One order step: a task, or with ``ORDERFLOW_SHARDS`` > 1 one mapped task instance per shard,
    each claiming only its shard's orders (all_done: see below)."""
    if settings.shards <= 1:
        return operator(task_id=task_id, trigger_rule=TriggerRule.ALL_DONE)
    return operator.partial(task_id=task_id, trigger_rule=TriggerRule.ALL_DONE, shards=settings.shards).expand(
        shard=list(range(settings.shards))
    )


with DAG(
    dag_id="orderflow_core",
    description="Best Buy orders: ingest, accept, Canada Post labels, tracking; customer messages",
    doc_md=DOC,
    schedule=settings.schedule,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=default_args,
    tags=["orderflow", "bestbuy", "mirakl", "canadapost"],
) as dag:
    with TaskGroup("ingest", tooltip="OR11 by update date -> orders") as ingest:
        IngestOrdersOperator(task_id="fetch_orders")

    # all_done: each step works from the order store, so one step's failure (one bad order, an API
    # outage) must not stop the next step from serving the orders it can.
    with TaskGroup("acceptance", tooltip="OR21 + OR11 polling") as acceptance:
        order_step(AcceptOrdersOperator, "accept_orders")

    with TaskGroup("shipping", tooltip="exactly-once Canada Post labels; void those of canceled orders") as shipping:
        buy_labels = order_step(BuyLabelsOperator, "buy_labels")
        void_labels = order_step(VoidCanceledLabelsOperator, "void_canceled_labels")
        buy_labels >> void_labels

    with TaskGroup("tracking", tooltip="OR23 + OR24") as tracking:
        order_step(PushTrackingOperator, "push_tracking")

    with TaskGroup("messaging", tooltip="inbox sync and auto-replies") as messaging:
        SyncMessagesOperator(task_id="sync_messages") >> AutoReplyOperator(task_id="auto_reply")

    # After the sale (issue 13): returns from Best Buy, and refunds/cancelations left open finished.
    with TaskGroup("returns", tooltip="RT11 returns (every 5 min at most); open refund/cancel intents") as returns:
        SyncReturnsOperator(task_id="sync_returns")
        SettleMoneyOperator(task_id="settle_money")

    ingest >> acceptance >> shipping >> tracking

    # A leaf that fails when any step failed: Airflow judges a run by its leaves only. A group only
    # hands on its last tasks, so a task followed by an all_done one (buy_labels) is named as well.
    verdict = RunVerdictOperator(task_id="run_verdict")
    [ingest, acceptance, shipping, buy_labels, tracking, messaging, returns] >> verdict
