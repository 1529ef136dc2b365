"""Best Buy returns (migration 021): the RT11 copy the Returns page and Grafana read."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from orderflow import lifecycle
from orderflow.store.base import Row, StoreBase, jsonb


def _pin(ret: Mapping[str, Any]) -> str | None:
    tracking = ret.get("tracking") or {}
    return tracking.get("tracking_number") or None


class ReturnsMixin(StoreBase):
    def upsert_returns(self, returns: Iterable[Mapping[str, Any]]) -> list[Row]:
        """RT11 returns in; the rows inserted or changed come back (``inserted`` for new ones)."""
        rows = [
            (r["id"], r["order_id"], r.get("order_commercial_id"), r["state"], r.get("method_code"), r.get("rma"),
             _pin(r), r.get("reason_code"), jsonb(r.get("return_lines") or []), jsonb(dict(r)),
             r.get("date_created"), r.get("last_updated"))
            for r in returns
        ]
        if not rows:
            return []
        with self.transaction() as cur:
            return self.execute_values(cur, "returns_upsert", rows, fetch=True)

    def get_return(self, return_id: str) -> Row | None:
        return self.fetch_one("returns_get", {"return_id": return_id})

    def find_return(self, code: str) -> str | None:
        row = self.fetch_one("returns_find", {"code": code.strip()})
        return row["return_id"] if row else None

    def open_returns(self, *, limit: int = 200) -> list[Row]:
        return self.fetch_all("returns_open", {"over": lifecycle.values(lifecycle.MIRAKL_RETURN_OVER), "limit": limit})

    def mark_return(self, return_id: str, step: str, who: str, ret: Mapping[str, Any] | None = None) -> Row | None:
        """received / judged / closed by ``who``; ``ret`` (Best Buy's copy read back) refreshes ours."""
        if step not in ("received", "judged", "closed"):
            raise ValueError(f"unknown return step {step!r}")
        return self.fetch_one("returns_mark", {
            "return_id": return_id, "step": step, "who": who,
            "state": ret.get("state") if ret else None,
            "raw": jsonb(dict(ret)) if ret else None,
            "return_lines": jsonb(ret.get("return_lines") or []) if ret else None,
        })

    def open_incidents(self, *, limit: int = 100) -> list[Row]:
        """Lines Best Buy shows with an open incident (ingest keeps OR11's line state), oldest first."""
        return self.fetch_all("incidents_open", {"limit": limit})

    def money_intents_for_return(self, return_id: str) -> list[Row]:
        return self.fetch_all("money_intents_for_return", {"return_id": return_id})
