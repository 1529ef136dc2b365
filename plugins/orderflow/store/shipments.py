"""Shipments: the label intents and what became of them (created, stored, failed), the voiding of the
labels of canceled orders, and the package lock held while Canada Post is called.

A shipment row is the exactly-once record of one label (``customer_request_id``, design.md): the
intent is committed before the create call and the answer recorded after it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from orderflow import lifecycle
from orderflow.store.base import Row, StoreBase, jsonb
from orderflow.store.orders import StaleStatus


class ShipmentsMixin(StoreBase):
    # -- labels -----------------------------------------------------------------------------
    def create_shipment_intent(
        self,
        *,
        order_id: str,
        package_no: int,
        customer_request_id: str,
        transport: str | None = None,
        service_code: str | None = None,
        group_id: str | None = None,
        weight_kg: Decimal | float | None = None,
        dimensions_cm: Mapping[str, Any] | None = None,
    ) -> Row:
        """Commit the intent to buy one label (idempotent on customer_request_id).

        The returned row has `inserted` True only for the call that created it.
        """
        rows = self.fetch_all(
            "insert_shipment_intent",
            {
                "order_id": order_id,
                "package_no": package_no,
                "customer_request_id": customer_request_id,
                "transport": transport,
                "service_code": service_code,
                "group_id": group_id,
                "weight_kg": weight_kg,
                "dimensions_cm": jsonb(dict(dimensions_cm)) if dimensions_cm else None,
            },
        )
        return rows[0]

    def shipments_for_order(self, order_id: str) -> list[Row]:
        return self.fetch_all("shipments_for_order", {"order_id": order_id})

    def shipments_for_orders(self, order_ids: Sequence[str]) -> dict[str, list[Row]]:
        result: dict[str, list[Row]] = {oid: [] for oid in order_ids}
        for row in self.fetch_all("shipments_for_orders", {"order_ids": list(order_ids)}):
            result[row["order_id"]].append(row)
        return result

    def mark_shipment_created(
        self,
        customer_request_id: str,
        *,
        shipment_id: str,
        tracking_pin: str | None,  # None: a shipment found at Canada Post without a PIN (adopted to be voided)
        links: Mapping[str, Any],
        price: Decimal | float | None,
        group_id: str | None = None,
    ) -> Row:
        row = self.fetch_one(
            "mark_shipment_created",
            {
                "customer_request_id": customer_request_id,
                "shipment_id": shipment_id,
                "tracking_pin": tracking_pin,
                "links": jsonb(dict(links)),
                "price": price,
                "group_id": group_id,
            },
        )
        if row is None:
            raise StaleStatus(customer_request_id, ("intent", "created"), "other")
        return row

    def mark_label_stored(
        self, customer_request_id: str, *, label_path: str, label_sha256: str, label_content_type: str
    ) -> Row:
        row = self.fetch_one(
            "mark_shipment_label_stored",
            {
                "customer_request_id": customer_request_id,
                "label_path": label_path,
                "label_sha256": label_sha256,
                "label_content_type": label_content_type,
            },
        )
        if row is None:
            raise StaleStatus(customer_request_id, ("created", "label_stored"), "other")
        return row

    def mark_shipment_failed(self, customer_request_id: str, *, error: Mapping[str, Any]) -> Row | None:
        return self.fetch_one(
            "mark_shipment_failed", {"customer_request_id": customer_request_id, "error": jsonb(dict(error))}
        )

    # -- voiding the labels of canceled orders ------------------------------------------------
    def void_candidates(self, *, run_id: str, after_id: int = 0, limit: int = 100, shard: int = 0,
                        shards: int = 1) -> list[Row]:
        """Shipments that may hold money (``lifecycle.MAY_HOLD_MONEY``) of ended orders of ``shard``, by
        row id after ``after_id``. Shipments the void step failed permanently come back only to that
        same run."""
        return self.fetch_all("void_candidates", {
            "run_id": run_id, "after_id": after_id, "limit": limit, "shard": shard, "shards": shards,
            "order_statuses": lifecycle.values(lifecycle.ENDED),
            "shipment_statuses": lifecycle.values(lifecycle.MAY_HOLD_MONEY),
        })

    def void_target(self, shipment_row_id: int) -> Row | None:
        """One shipment row with its order's current status (``order_status``)."""
        return self.fetch_one("void_target", {"id": shipment_row_id})

    def mark_shipment_voided(self, shipment_row_id: int, *, detail: Mapping[str, Any]) -> Row | None:
        """Live shipment of a canceled order -> ``voided`` (None when it is not one any more)."""
        return self.fetch_one(
            "mark_shipment_voided",
            {"id": shipment_row_id, "detail": jsonb(dict(detail)), "order_statuses": lifecycle.values(lifecycle.ENDED),
             "shipment_statuses": lifecycle.values(lifecycle.VOIDABLE)},
        )

    def mark_shipment_refund_requested(
        self, shipment_row_id: int, *, refund_ticket_id: str | None, detail: Mapping[str, Any]
    ) -> Row | None:
        """Live shipment of a canceled order -> ``refund_requested`` with Canada Post's ticket id."""
        return self.fetch_one(
            "mark_shipment_refund_requested",
            {"id": shipment_row_id, "refund_ticket_id": refund_ticket_id, "detail": jsonb(dict(detail)),
             "order_statuses": lifecycle.values(lifecycle.ENDED),
             "shipment_statuses": lifecycle.values(lifecycle.VOIDABLE)},
        )

    def mark_shipment_void_failed(self, shipment_row_id: int, *, error: Mapping[str, Any]) -> Row | None:
        """Keep why voiding a live shipment failed permanently (its status stays: the label is live)."""
        return self.fetch_one("mark_shipment_void_failed", {"id": shipment_row_id, "error": jsonb(dict(error))})

    def reopen_shipment_intent(self, customer_request_id: str) -> Row | None:
        """failed -> intent for a person's re-attempt (only a row Canada Post proved empty is `failed`)."""
        return self.fetch_one("reopen_shipment_intent", {"customer_request_id": customer_request_id})

    @contextmanager
    def shipment_lock(self, customer_request_id: str) -> Iterator[bool]:
        """Hold a session advisory lock on one package while its Canada Post calls run.

        Yields False (and holds nothing) when another session holds it. Claims already keep two runs
        apart; this lock also covers the rare case a claim cannot: a worker presumed dead (claim
        expired or taken back) that is in fact still talking to Canada Post. The lock lives in the
        database session, so a killed worker's lock vanishes with its connection.
        """
        with self.session_lock("try_shipment_lock", "release_shipment_lock",
                               {"customer_request_id": customer_request_id}) as locked:
            yield locked
