-- 017: a claim names the Airflow task try that holds it (issue 12 item 9).
--
-- A try stopped from outside (marked failed, its run stopped, killed, a zombie) cannot release its
-- claims; until now they held its orders until they expired (at least the task's execution_timeout
-- plus ten minutes). With the try named here, the next claimer asks Airflow whether that try is
-- still running and takes the orders of one that is not at once. NULL for claims taken outside a
-- task (tools, tests): those still wait for their expiry.
ALTER TABLE order_claims
    ADD COLUMN dag_id      text,
    ADD COLUMN run_id      text,
    ADD COLUMN task_id     text,
    ADD COLUMN map_index   integer,
    ADD COLUMN try_number  integer;

-- The claims panel and the claimers' "who holds my input" read live claims by holder.
CREATE INDEX order_claims_holder_idx ON order_claims (claimed_by, try_number);

-- Grafana's Orders dashboard lists the orders held by claims, with who holds them and since when
-- ("Orders held by claims"): orderflow_grafana reads order_claims (order ids and task names only).
-- Skipped with a notice where the role does not exist, like 005.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'orderflow_grafana') THEN
        GRANT SELECT ON order_claims TO orderflow_grafana;
    ELSE
        RAISE NOTICE 'orderflow_grafana does not exist: SELECT on order_claims not granted';
    END IF;
END;
$$;
