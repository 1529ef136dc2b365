"""Best Buy returns (migration 021): the RT11 copy the Returns page and Grafana read."""

from __future__ import annotations

from collections.abc import Sequence

from orderflow import lifecycle
from orderflow.hooks.mirakl_records import ReturnRecord
from orderflow.store.base import Row, StoreBase, jsonb


def _require_records(what: str, returns: Sequence[object]) -> None:
    for ret in returns:
        if not isinstance(ret, ReturnRecord):
            raise TypeError(
                f"{what} takes ReturnRecords, not {type(ret).__name__}: parse RT11 payloads "
                "with orderflow.hooks.mirakl_records.return_from_payload first"
            )


class ReturnsMixin(StoreBase):
    def upsert_returns(self, returns: Sequence[ReturnRecord]) -> list[Row]:
        """RT11 returns in; the rows inserted or changed come back (``inserted`` for new ones).

        Takes ``ReturnRecord``s only: callers parse Best Buy's RT11 payloads once with
        ``orderflow.hooks.mirakl_records.return_from_payload``; anything else is a ``TypeError``
        and nothing is written.
        """
        _require_records("upsert_returns", returns)
        rows = [
            (r.return_id, r.order_id, r.commercial_id, r.state, r.method_code, r.rma, r.tracking_pin,
             r.reason_code, jsonb(list(r.return_lines)), jsonb(dict(r.raw)), r.date_created, r.last_updated)
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

    def mark_return(self, return_id: str, step: str, who: str, ret: ReturnRecord | None = None) -> Row | None:
        """received / judged / closed by ``who``; ``ret`` (Best Buy's copy read back, a ``ReturnRecord``)
        refreshes ours."""
        if step not in ("received", "judged", "closed"):
            raise ValueError(f"unknown return step {step!r}")
        if ret is not None:
            _require_records("mark_return", [ret])
        return self.fetch_one("returns_mark", {
            "return_id": return_id, "step": step, "who": who,
            "state": ret.state if ret else None,
            "raw": jsonb(dict(ret.raw)) if ret else None,
            "return_lines": jsonb(list(ret.return_lines)) if ret else None,
        })

    def open_incidents(self, *, limit: int = 100) -> list[Row]:
        """Lines Best Buy shows with an open incident (ingest keeps OR11's line state), oldest first."""
        return self.fetch_all("incidents_open", {"limit": limit})

    def money_intents_for_return(self, return_id: str) -> list[Row]:
        return self.fetch_all("money_intents_for_return", {"return_id": return_id})
