"""The order store: the one place that talks SQL to the orderflow database.

`OrderStore` is assembled from one mixin per area so each area's SQL stays readable; all of them
share one connection pool and the named queries in include/sql/queries.
"""

from __future__ import annotations

from orderflow.lifecycle import TransitionRefused
from orderflow.store.base import Row, StoreBase, dsn_from_airflow, jsonb
from orderflow.store.carrier_lookups import CarrierLookupsMixin
from orderflow.store.claims import ClaimsMixin, ClaimTry
from orderflow.store.inbox import InboxMixin
from orderflow.store.manifests import ManifestsMixin
from orderflow.store.messaging import MessagingMixin
from orderflow.store.money import MoneyIntentsMixin, OpenIntentExists
from orderflow.store.orders import OrdersMixin, StaleStatus, Transition, UpsertedOrder
from orderflow.store.packing import PackingMixin
from orderflow.store.rate_budgets import RateBudgetsMixin
from orderflow.store.replies import AgentRepliesMixin
from orderflow.store.returns import ReturnsMixin
from orderflow.store.shipment_doubt import CreateDoubt, ShipmentDoubtMixin


class OrderStore(
    OrdersMixin, ClaimsMixin, MessagingMixin, InboxMixin, PackingMixin, CarrierLookupsMixin, MoneyIntentsMixin,
    ManifestsMixin, ShipmentDoubtMixin, AgentRepliesMixin, RateBudgetsMixin, ReturnsMixin,
):
    """All SQL access of orderflow. Build with OrderStore(dsn) or OrderStore.from_conn_id()."""


__all__ = [
    "ClaimTry",
    "CreateDoubt",
    "OpenIntentExists",
    "OrderStore",
    "Row",
    "StaleStatus",
    "StoreBase",
    "Transition",
    "TransitionRefused",
    "UpsertedOrder",
    "dsn_from_airflow",
    "jsonb",
]
