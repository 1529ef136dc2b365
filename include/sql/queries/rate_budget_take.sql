-- Take one call from a shared rate budget (migration 019): 0 when taken, else the seconds to wait.
SELECT rate_budget_take(%(name)s, %(allowed)s, %(window_seconds)s) AS wait
