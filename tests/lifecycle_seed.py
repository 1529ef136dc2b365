"""Orders put into any status the way the code would have: upserted like an OR11 payload, then
walked through the status machine one history row at a time (the store's checks and the
``status_transitions`` trigger refuse any step the machine does not allow), with an optional
shipment row and a packed parcel. The liveness test seeds every (status, shipment) pair with it."""

from __future__ import annotations

from collections import deque
from datetime import UTC, datetime, timedelta
from typing import Any

from orderflow import lifecycle
from orderflow.hooks.mirakl_records import order_from_payload
from orderflow.store import OrderStore


def path_to(status: lifecycle.OrderStatus) -> list[lifecycle.OrderStatus]:
    """A shortest walk from "no history" to `status` the machine allows."""
    queue: deque[tuple[lifecycle.OrderStatus | None, list[lifecycle.OrderStatus]]] = deque([(None, [])])
    seen: set[lifecycle.OrderStatus | None] = {None}
    while queue:
        at, walk = queue.popleft()
        if at == status:
            return walk
        for nxt in sorted(lifecycle.TRANSITIONS[at]):
            if nxt not in seen:
                seen.add(nxt)
                queue.append((nxt, [*walk, nxt]))
    raise AssertionError(f"{status} cannot be reached from a new order")


def payload(order_id: str, *, state: str = "WAITING_ACCEPTANCE", deadline_hours: float = 48) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "order_id": order_id,
        "commercial_id": order_id.split("-")[0],
        "order_state": state,
        "created_date": now.isoformat(),
        "last_updated_date": now.isoformat(),
        "shipping_deadline": (now + timedelta(hours=deadline_hours)).isoformat(),
        "customer": {"customer_id": f"c-{order_id}", "firstname": "Sam", "lastname": "Seed",
                     "shipping_address": {"city": "Ottawa", "state": "ON", "zip_code": "K1A 0B1",
                                          "country_iso_code": "CA"}},
        "price": 10, "shipping_price": 0, "total_price": 10, "currency_iso_code": "CAD",
        "order_lines": [{"order_line_id": f"{order_id}-1", "quantity": 1, "offer_sku": "SEED-SKU"}],
    }


def seed_order(
    store: OrderStore,
    order_id: str,
    status: lifecycle.OrderStatus,
    *,
    shipment: lifecycle.ShipmentStatus | None = None,
    packed: bool = False,
) -> None:
    store.upsert_orders([order_from_payload(payload(order_id))])
    for step in path_to(status):
        store.record_transition(order_id, step, detail={"reason": "seeded", "step": "seed"},
                                run_id="seed", actor="seed")
    if shipment is None:
        return
    crid = f"{order_id}-1"
    with store.transaction() as cur:
        cur.execute(
            """INSERT INTO shipments (order_id, package_no, customer_request_id, status, shipment_id, tracking_pin,
                                      links, label_path, label_sha256, price)
               VALUES (%s, 1, %s, %s, %s, %s, %s, %s, %s, 10.00) RETURNING id""",
            (order_id, crid, str(shipment),
             None if shipment == lifecycle.SH.INTENT else f"SID-{order_id}",
             None if shipment == lifecycle.SH.INTENT else f"PIN-{order_id}",
             "{}" if shipment == lifecycle.SH.INTENT else '{"label": "http://127.0.0.1:9/label"}',
             f"/nonexistent/{crid}.pdf" if shipment == lifecycle.SH.LABEL_STORED else None,
             "0" * 64 if shipment == lifecycle.SH.LABEL_STORED else None),
        )
        (shipment_row,) = cur.fetchone().values()
        if packed:
            cur.execute("""INSERT INTO pack_sessions (order_id, packer, status, completed_at, shipment_id)
                           VALUES (%s, 'seed', 'packed', now(), %s) RETURNING id""", (order_id, shipment_row))
            (session,) = cur.fetchone().values()
            cur.execute("UPDATE shipments SET pack_session_id = %s WHERE id = %s", (session, shipment_row))
