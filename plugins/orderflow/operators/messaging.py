"""Messaging task group: sync the Mirakl inbox (M11/M10) and send templated auto-replies (M12).

Skeleton: behaviour is being filled in; the class names and constructor kwargs are stable.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseOperator


class SyncMessagesOperator(BaseOperator):
    """Sync Mirakl message threads into customers/conversations/messages."""

    def __init__(
        self,
        *,
        mirakl_conn_id: str = "mirakl_default",
        orderflow_conn_id: str = "orderflow_db",
        watermark_name: str = "mirakl_threads",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.mirakl_conn_id = mirakl_conn_id
        self.orderflow_conn_id = orderflow_conn_id
        self.watermark_name = watermark_name

    def execute(self, context: Any) -> dict[str, Any]:
        raise NotImplementedError("being implemented")


class AutoReplyOperator(BaseOperator):
    """Send at most one templated reply per customer message awaiting an answer."""

    def __init__(
        self,
        *,
        mirakl_conn_id: str = "mirakl_default",
        orderflow_conn_id: str = "orderflow_db",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.mirakl_conn_id = mirakl_conn_id
        self.orderflow_conn_id = orderflow_conn_id

    def execute(self, context: Any) -> dict[str, Any]:
        raise NotImplementedError("being implemented")
