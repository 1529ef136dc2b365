-- 005: orderflow_grafana, the read-only role Grafana's "orderflow DB" data source logs in as.
--
-- SELECT on exactly the tables the dashboards and alert rules in grafana/ read, USAGE on the
-- schema, nothing else: no write, no sequences, no functions of ours, no other table (order
-- claims, raw payload copies in other tables, pack sessions...). A dashboard that starts reading
-- another table needs a new migration granting it; tests/grafana checks that the grants below are
-- exactly the relations the queries touch.
--
-- Roles are cluster-wide while this migration runs once per database (and the test suite
-- creates many databases on one server), so the role is created only if missing, NOLOGIN.
-- Logging in is given where the server is set up: docker/postgres-init/01-orderflow.sh gives it
-- LOGIN and the password from GRAFANA_ORDERFLOW_DB_PASSWORD. A migration run by a user without
-- CREATEROLE on a server where the role does not exist yet skips the role (with a notice)
-- instead of failing everyone's upgrade; create the role and re-grant by hand in that case.

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'orderflow_grafana') THEN
        BEGIN
            CREATE ROLE orderflow_grafana NOLOGIN;
        EXCEPTION
            -- another database's migration created it a moment ago
            WHEN duplicate_object OR unique_violation THEN NULL;
            WHEN insufficient_privilege THEN
                RAISE NOTICE 'orderflow_grafana does not exist and % may not create roles: skipped', current_user;
        END;
    END IF;

    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'orderflow_grafana') THEN
        EXECUTE format('GRANT USAGE ON SCHEMA %I TO orderflow_grafana', current_schema());
        GRANT SELECT ON
            orders,
            order_statuses,
            order_status_history,
            shipments,
            customers,
            conversations,
            messages
        TO orderflow_grafana;
    END IF;
END;
$$;
