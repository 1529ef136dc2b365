-- 022: order events: what happened to an order that is no status change (issue 13).
--
-- A partial seller cancelation (OR30 on some units) leaves the order's status where it is (the rest
-- keeps flowing), yet the history must say who canceled which lines and why. Such facts are rows
-- here, append-only like order_status_history, written in the transaction that settles the intent;
-- the order's history read (order_history_with_events.sql) merges both. Kinds: lifecycle.OrderEvent.

CREATE TABLE order_events (
    id          bigserial PRIMARY KEY,
    order_id    text NOT NULL REFERENCES orders (order_id),
    kind        text NOT NULL CHECK (kind IN ('lines_canceled')),
    actor       text,                                -- the person (FAB user) or step
    detail      jsonb NOT NULL DEFAULT '{}'::jsonb,  -- lines_canceled: reason_code, reason_label, lines, intent
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX order_events_order_idx ON order_events (order_id, id);

CREATE FUNCTION order_events_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'order_events is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER order_events_no_rewrite
    BEFORE UPDATE OR DELETE ON order_events
    FOR EACH ROW EXECUTE FUNCTION order_events_append_only();
CREATE TRIGGER order_events_no_truncate
    BEFORE TRUNCATE ON order_events
    FOR EACH STATEMENT EXECUTE FUNCTION order_events_append_only();

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'orderflow_grafana') THEN
        GRANT SELECT ON order_events TO orderflow_grafana;
    END IF;
END;
$$;
