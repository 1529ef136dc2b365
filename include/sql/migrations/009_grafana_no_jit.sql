-- 009: no JIT compilation for orderflow_grafana, the role Grafana's "orderflow DB" data source
-- logs in as.
--
-- The dashboards' panel queries are short (at most tens of milliseconds on 1,000,000 orders and
-- 5,000,000 history rows, bench/db_scale.py), but the planner's cost estimates of the "Time in each
-- step" panels and the deadline panels pass jit_above_cost, so PostgreSQL (jit = on by default)
-- compiled them on every refresh: up to 0.4 s of compilation for a query that runs in 90 ms.
-- A role setting applies to every new session of the role, so to every Grafana refresh; the
-- orderflow DAG and pages (another role) keep the server's setting.
--
-- Roles are cluster-wide while this migration runs once per database, like 005: the setting is
-- written only when missing. When the role does not exist (005 skipped it) or the migrating user
-- may not alter it (no CREATEROLE), the migration skips it with a notice instead of failing
-- everyone's upgrade; run `ALTER ROLE orderflow_grafana SET jit = off` as a superuser then.

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'orderflow_grafana') THEN
        RAISE NOTICE 'orderflow_grafana does not exist: jit = off skipped';
    ELSIF NOT EXISTS (
        SELECT 1
          FROM pg_db_role_setting s
          JOIN pg_roles r ON r.oid = s.setrole
         WHERE r.rolname = 'orderflow_grafana' AND s.setdatabase = 0 AND 'jit=off' = ANY (s.setconfig)
    ) THEN
        BEGIN
            ALTER ROLE orderflow_grafana SET jit = off;
        EXCEPTION
            WHEN insufficient_privilege THEN
                RAISE NOTICE '% may not alter role orderflow_grafana: jit = off skipped', current_user;
            -- another database's migration wrote the same setting a moment ago
            WHEN unique_violation OR internal_error THEN NULL;
        END;
    END IF;
END;
$$;
