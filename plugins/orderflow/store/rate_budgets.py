"""Rate budgets every worker shares (issue 15), kept in the orderflow database.

The hooks' :class:`~orderflow.hooks._http.RateLimiter` counts calls per process; Best Buy and
Canada Post count them per API key. With the order steps sharded over several Celery workers, the
step framework hands the limiters this store's budgets (``RateLimiter.share_budgets``), and every
limited call takes its slot here, under one advisory lock per budget, on the database's clock.
"""

from __future__ import annotations

from orderflow.store.base import StoreBase


class RateBudgetsMixin(StoreBase):
    def take_rate_budget(self, name: str, allowed: int, window_seconds: float) -> float:
        """Record one call of budget ``name`` (``allowed`` calls per ``window_seconds``) and return 0,
        or return the seconds until it has room (nothing recorded)."""
        row = self.fetch_one("rate_budget_take", {"name": name, "allowed": int(allowed),
                                                  "window_seconds": float(window_seconds)})
        assert row is not None
        return float(row["wait"])
