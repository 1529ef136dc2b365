"""Returns task group (issue 13): RT11 into ``returns``, and open refund/cancel intents settled.

``SyncReturnsOperator``: RT11 since the watermark, at most every 5 minutes (Mirakl's maximum; a
faster DAG schedule just skips), see :func:`orderflow.returns_flow.sync`.
``SettleMoneyOperator``: every refund/cancel intent left open (a killed page request, Best Buy
down at the time) is read back from Best Buy and finished, exactly once
(:func:`orderflow.aftersale.settle_open`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

if TYPE_CHECKING:
    from airflow.sdk import Context

    from orderflow.hooks.mirakl import MiraklHook
    from orderflow.store import OrderStore


class _StoreAndMiraklOperator(BaseOperator):
    """Runs :meth:`work` with the order store and a Mirakl hook, closing both whatever happens."""

    def __init__(self, *, mirakl_conn_id: str = "mirakl_default", orderflow_conn_id: str = "orderflow_db",
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mirakl_conn_id = mirakl_conn_id
        self.orderflow_conn_id = orderflow_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        from orderflow.hooks.mirakl import MiraklHook
        from orderflow.store import OrderStore

        store = OrderStore.from_conn_id(self.orderflow_conn_id)
        hook = MiraklHook(mirakl_conn_id=self.mirakl_conn_id)
        try:
            return self.work(store, hook)
        finally:
            hook.close()
            store.close()

    def work(self, store: OrderStore, hook: MiraklHook) -> dict[str, Any]:
        raise NotImplementedError


class SyncReturnsOperator(_StoreAndMiraklOperator):
    ui_color = "#f3ecfb"

    def __init__(self, *, force: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.force = force

    def work(self, store: OrderStore, hook: MiraklHook) -> dict[str, Any]:
        from orderflow import returns_flow

        summary = returns_flow.sync(store, hook, force=self.force)
        self.log.info("returns sync: %s", summary)
        return summary


class SettleMoneyOperator(_StoreAndMiraklOperator):
    ui_color = "#fbecec"

    def work(self, store: OrderStore, hook: MiraklHook) -> dict[str, Any]:
        from orderflow import aftersale, aftersale_status

        def move_order(intent: dict[str, Any]) -> None:
            aftersale_status.apply(store, hook, intent)

        results = aftersale.settle_open(store, hook, on_done=move_order)
        counts: dict[str, int] = {}
        for result in results:
            counts[result.outcome] = counts.get(result.outcome, 0) + 1
            if result.outcome != "done":
                self.log.warning("money intent %s: %s (%s)", result.intent_id, result.outcome, result.message)
        self.log.info("money intents settled: %s", counts)
        return counts
