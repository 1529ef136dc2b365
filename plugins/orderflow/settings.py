"""Behaviour settings: one place, read from environment variables (ORDERFLOW_*), then Airflow
Variables (orderflow_*) when running inside Airflow, else the defaults below, which run the
sandbox demo unchanged.

The settings in ``ENV_ONLY`` change security and come from the environment only, never from
Variables (any Op user can edit those in the UI): the tracking URL template (sent to customers), the
pack-verify gate (whether a parcel ships unverified) and the label folder (what the packing station
serves files from).

Secrets and endpoints are not settings: they live in Airflow Connections only
(`orderflow_db`, `mirakl_default`, `canadapost_default`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, fields
from datetime import time
from typing import Any

ENV_ONLY: frozenset[str] = frozenset({"tracking_url_template", "pack_verify_gate", "label_dir"})


def _airflow_variable(name: str) -> str | None:
    """An Airflow Variable, or None outside a running task/api-server (never fails)."""
    if os.environ.get("ORDERFLOW_SETTINGS_NO_VARIABLES"):
        return None
    try:
        from airflow.sdk import Variable

        value: str | None = Variable.get(name, default=None)
        return value
    except Exception:  # no task context / no DB: the environment and defaults decide
        return None


def _coerce(raw: str, default: Any) -> Any:
    if isinstance(default, bool):
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    if isinstance(default, int):
        return int(raw)
    if isinstance(default, float):
        return float(raw)
    if isinstance(default, time):
        return time.fromisoformat(raw)
    if isinstance(default, (list, dict, tuple)):
        return json.loads(raw)
    return raw


@dataclass(frozen=True)
class Settings:
    # DAG
    schedule: str = "*/15 * * * *"          # mirrors the original cron cycle
    task_retries: int = 3
    task_retry_delay_seconds: int = 60
    task_timeout_minutes: int = 30
    # Mapped task instances per order step (acceptance, shipping, void, tracking), each claiming only
    # its shard of the orders, so Celery workers share one run's work. Read at parse time, from the
    # environment only (it shapes the DAG). 1 keeps one task per step.
    shards: int = 1
    # batches and concurrency inside a task
    batch_size: int = 100                   # orders per claim / per OR11 order_ids call (max 100)
    # Parallel API calls inside one task. 16 is safe against the real APIs: concurrency is not the
    # request *rate*. The hooks' shared client-side limiters bound each budget per process (Canada
    # Post throttle groups A-E and an optional create limit, Mirakl's OR11 polls and look-ups) and a
    # throttled answer is waited out (Retry-After, Canada Post's 60 s block) by the tenacity loop,
    # so more workers only fill a budget sooner, never overspend it. Mirakl documents no per-call
    # concurrency limit for OR21/OR23/OR24; 16 connections per task stay far below what its gateway
    # serves one shop. Everything a worker thread takes scales with it: the store's pool is sized to
    # 2 x max_workers + 2 (one advisory-lock session + one transaction per shipping thread) and waits
    # rather than fails when exhausted; the hooks' HTTP pools keep up to 64 connections.
    max_workers: int = 16
    # A dead worker's claims expire after this. It must outlive a try that runs to its
    # execution_timeout (task_timeout_minutes): a claim expiring under a live try lets an
    # overlapping run work the same order. The steps enforce timeout + CLAIM_TTL_MARGIN_SECONDS
    # as a floor; a killed try's own retry takes its claims back at once, whatever the TTL.
    claim_ttl_seconds: int = 2400
    # ingest
    ingest_overlap_minutes: int = 10        # re-read this much before the watermark (Mirakl's safety delta)
    ingest_initial_lookback_days: int = 14
    # acceptance validation (poll OR11 by order_ids until the order left WAITING_ACCEPTANCE)
    acceptance_poll_attempts: int = 6
    acceptance_poll_interval_seconds: float = 5.0
    # shipping
    label_dir: str = ""                     # default: $AIRFLOW_HOME/labels
    shop_name: str = "orderflow demo shop"
    default_service_code: str = "DOM.EP"
    # [[max_weight_kg, service_code] or [max_weight_kg, service_code, "CA"|"US"|"INT"], ...]: the first
    # rule of the parcel's destination (default "CA") whose weight bound holds wins; no match uses
    # default_service_code (CA), service_code_usa or service_code_international.
    service_rules: list[list[Any]] = field(default_factory=lambda: [[2.0, "DOM.EP"], [30.0, "DOM.RP"]])
    service_code_usa: str = "USA.EP"
    service_code_international: str = "INT.XP"
    default_parcel_weight_kg: float = 1.0   # per unit of a SKU missing from `products`
    # end of day (contract shipping with daily groups): the cut-off closes the mailing day
    eod_cutoff: time = time(16, 0)          # seller's local time; a label bought later joins the next day
    eod_timezone: str = "America/Toronto"
    mailing_days: list[int] = field(default_factory=lambda: [0, 1, 2, 3, 4])   # Monday = 0
    eod_manifest_wait_seconds: float = 60.0  # how long the close waits for Canada Post's manifests
    eod_in_flight_wait_seconds: float = 120.0  # how long a closed group waits for creates in flight
    # A read-back that finds no manifest proves nothing this soon after a doubtful transmit (Canada
    # Post may still be making it): a new transmit only once this long has passed since the attempt.
    eod_transmit_recheck_seconds: float = 120.0
    # No quick second purchase: after a create-shipment whose outcome is unknown (timeout, dropped
    # connection, 5xx) no new POST for that request id until a look-up made at least this long after
    # it has found nothing; until then the order waits for the next try or run (issue 12 item 4).
    # It must outlast the time Canada Post may take to process a create and list it in look-ups.
    create_recheck_seconds: float = 120.0
    # tracking / packing
    pack_verify_gate: bool = False          # off as in the seed: label_created orders ship directly
    carrier_code: str = "CPCL"              # Canada Post on Best Buy CA (SH21)
    tracking_url_template: str = (
        "https://www.canadapost-postescanada.ca/track-reperage/en#/resultList?searchFor={pin}"
    )
    # customer service
    business_hours_start: time = time(9, 0)
    business_hours_end: time = time(17, 0)
    business_days: list[int] = field(default_factory=lambda: [0, 1, 2, 3, 4])   # Monday = 0
    business_timezone: str = "America/Toronto"
    reply_target_business_hours: float = 8.0   # Best Buy: answer within one business day
    auto_reply_enabled: bool = True
    auto_reply_only_outside_business_hours: bool = False
    auto_reply_first_contact_only: bool = False
    auto_reply_template: str = "auto_ack"
    # An inbox reply whose M12 attempt may have reached Best Buy (timeout, dropped answer, 5xx) is
    # sent again only when a read-back of the thread (M10) made at least this long after that attempt
    # does not show it (orderflow.replies); until then the page says it is being checked.
    reply_recheck_seconds: float = 30.0

    @classmethod
    def load(cls) -> Settings:
        values: dict[str, Any] = {}
        defaults = cls()
        for f in fields(cls):
            default = getattr(defaults, f.name)
            raw = os.environ.get(f"ORDERFLOW_{f.name.upper()}")
            if raw is None and f.name not in ENV_ONLY:
                raw = _airflow_variable(f"orderflow_{f.name}")
            if raw is not None and raw != "":
                values[f.name] = _coerce(raw, default)
        return cls(**values)

    @classmethod
    def from_environment(cls) -> Settings:
        """Settings from ORDERFLOW_* environment variables and defaults only, never Airflow Variables.

        For DAG files: reading Variables at parse time is a metadata-DB round trip per field on every
        parse, and a parse must do no I/O. Task code uses :meth:`load`.
        """
        defaults = cls()
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = os.environ.get(f"ORDERFLOW_{f.name.upper()}")
            if raw is not None and raw != "":
                values[f.name] = _coerce(raw, getattr(defaults, f.name))
        return cls(**values)

    @property
    def resolved_label_dir(self) -> str:
        if self.label_dir:
            return self.label_dir
        env = os.environ.get("ORDERFLOW_LABEL_DIR")
        if env:
            return env
        home = os.environ.get("AIRFLOW_HOME") or os.path.expanduser("~/airflow")
        return os.path.join(home, "labels")
