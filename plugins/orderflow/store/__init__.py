"""The order store: the one place that talks SQL to the orderflow database.

`OrderStore` is assembled from one mixin per aggregate, each a module of its own over ``StoreBase``
(base.py: the pool, transactions, session advisory locks, named-query helpers; connection.py: the
Airflow Connection read by PostgresHook, for ``from_conn_id``) with its SQL in include/sql/queries:

- orders.py: orders and their lines, the status history, order events
- claims.py: the leases a step takes on its input orders
- shipments.py: label intents and their outcomes, voiding, the package lock
- shipment_doubt.py, carrier_lookups.py: what the create-shipment recheck and Canada Post look-ups keep
- watermarks.py: how far each sweep of Best Buy has read
- catalog.py: products and the component barcodes packers scan
- packing.py: the packing station (queue, pack sessions, scans)
- messaging.py, inbox.py, replies.py: synced threads and auto-replies, the inbox page, agents' reply intents
- money.py, returns.py, manifests.py, rate_budgets.py: refund/cancel intents, RT11 returns, end of day,
  shared API rate budgets

Parsing Best Buy's payloads is not the store's job: ``orderflow.hooks.mirakl_records`` makes the
typed records the store saves.
"""
from __future__ import annotations

from orderflow.lifecycle import TransitionRefused
from orderflow.store.base import Row, StoreBase, jsonb
from orderflow.store.carrier_lookups import CarrierLookupsMixin
from orderflow.store.catalog import CatalogMixin
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
from orderflow.store.shipments import ShipmentsMixin
from orderflow.store.watermarks import WatermarksMixin


class OrderStore(
    OrdersMixin, ClaimsMixin, ShipmentsMixin, WatermarksMixin, CatalogMixin, MessagingMixin, InboxMixin, PackingMixin,
    CarrierLookupsMixin, MoneyIntentsMixin, ManifestsMixin, ShipmentDoubtMixin, AgentRepliesMixin, RateBudgetsMixin,
    ReturnsMixin,
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
    "jsonb",
]
