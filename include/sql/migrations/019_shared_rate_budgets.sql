-- Rate budgets shared by every process (issue 15): Best Buy and Canada Post count calls per API
-- key, not per worker, so with several shards on several Celery workers the client-side limiters
-- must count together. One row per call still inside its budget's window; rate_budget_take() holds
-- the budget's advisory lock, drops expired rows, and either records the call (returns 0) or returns
-- the seconds until the budget has room. The database's clock is the one clock all workers share.
CREATE UNLOGGED TABLE IF NOT EXISTS rate_budget_calls (
    name text NOT NULL,
    at   timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS rate_budget_calls_name_at_idx ON rate_budget_calls (name, at);

CREATE OR REPLACE FUNCTION rate_budget_take(p_name text, p_allowed integer, p_window_seconds double precision)
    RETURNS double precision
    LANGUAGE plpgsql AS $$
DECLARE
    now_ts timestamptz;
    in_window integer;
    frees_at timestamptz;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('orderflow.rate_budget'), hashtext(p_name));
    now_ts := clock_timestamp();  -- after the lock: a waiter must not use the time it started waiting
    DELETE FROM rate_budget_calls WHERE name = p_name AND at <= now_ts - make_interval(secs => p_window_seconds);
    SELECT count(*) INTO in_window FROM rate_budget_calls WHERE name = p_name;
    IF in_window < p_allowed THEN
        INSERT INTO rate_budget_calls (name, at) VALUES (p_name, now_ts);
        RETURN 0;
    END IF;
    -- The call that must leave the window before one more fits (more than one when the limit fell).
    SELECT at INTO frees_at FROM rate_budget_calls WHERE name = p_name
     ORDER BY at OFFSET in_window - p_allowed LIMIT 1;
    RETURN greatest(extract(epoch FROM frees_at + make_interval(secs => p_window_seconds) - now_ts), 0.001);
END $$;
