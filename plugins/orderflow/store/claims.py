"""Claims: a step leases the orders it works on (overlapping runs never work one order at once).

A claim is owned by ``<dag_id>/<run_id>/<task_id>`` (the task instance: a new try takes back what an
earlier try left) and names the task try that took it. It ends when the order's outcome is recorded
(the history row's insert releases it), when the try ends normally (``finally``), when it expires,
or, for a try stopped from outside, as soon as Airflow says that try is over (``ended_tries``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from orderflow import lifecycle
from orderflow.store.base import Row, StoreBase


@dataclass(frozen=True)
class ClaimTry:
    """The Airflow task try taking a claim."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int = -1
    try_number: int = 1


class ClaimsMixin(StoreBase):
    def claim_orders(
        self, status: str | Sequence[str], *, step: str, owner: str, limit: int = 100, ttl_seconds: float = 900,
        require_packed: bool = False, shard: int = 0, shards: int = 1, holder: ClaimTry | None = None,
        ended_tries: Iterable[tuple[str, int]] = (),
    ) -> list[str]:
        """Lease up to `limit` orders in `status` (one or several) to `owner`; overlapping runs get
        disjoint sets. ``require_packed``: only orders whose labelled parcels are all packed.
        ``shard`` of ``shards``: only the orders of that shard (``order_shard()``, migration 014).
        ``holder``: the task try taking the claims (recorded). ``ended_tries``: ``(owner, try_number)``
        of tries known to be over: their claims (that try and earlier) count as free."""
        statuses = _statuses(status)
        ended = list(ended_tries)
        rows = self.fetch_all(
            "claim_orders",
            {"statuses": statuses, "step": step, "owner": owner, "limit": limit, "ttl": ttl_seconds,
             "require_packed": require_packed, "packed_statuses": [str(lifecycle.S.PACKED)],
             "shard": shard, "shards": shards,
             "ended_owners": [o for o, _ in ended], "ended_tries": [int(t) for _, t in ended],
             "dag_id": holder.dag_id if holder else None, "run_id": holder.run_id if holder else None,
             "task_id": holder.task_id if holder else None, "map_index": holder.map_index if holder else None,
             "try_number": holder.try_number if holder else None},
        )
        return sorted(r["order_id"] for r in rows)

    def claim_holders(self, status: str | Sequence[str], *, owner: str) -> list[Row]:
        """Task tries (other than `owner`'s) holding live claims on orders in `status`: claimed_by,
        dag_id, run_id, task_id, map_index, try_number (the latest holding one), orders."""
        statuses = _statuses(status)
        return self.fetch_all("claim_holders", {"statuses": statuses, "owner": owner})

    def held_orders(self, *, limit: int = 500) -> list[Row]:
        """Orders held by a live claim, oldest claim first: status, step, holder, claimed_at, expires_at."""
        return self.fetch_all("held_orders", {"limit": limit})

    def release_claims(self, order_ids: Iterable[str], *, owner: str) -> int:
        ids = list(order_ids)
        if not ids:
            return 0
        return self.execute("release_claims", {"owner": owner, "order_ids": ids})

    def release_owner_claims(self, owner: str) -> int:
        """Drop every claim `owner` holds (a task instance starting again takes back its own leases)."""
        return self.execute("release_owner_claims", {"owner": owner})

    def claimed_by_others(self, order_ids: Sequence[str], *, owner: str) -> dict[str, Row]:
        """Orders of `order_ids` with a live claim held by someone other than `owner`."""
        if not order_ids:
            return {}
        rows = self.fetch_all("live_claims_of_others", {"order_ids": list(order_ids), "owner": owner})
        return {r["order_id"]: r for r in rows}


def _statuses(status: str | Sequence[str]) -> list[str]:
    """One status or several, as the list of plain strings the queries take."""
    return [status] if isinstance(status, str) else [str(s) for s in status]
