-- 021: Best Buy returns (RT11), synced by the `returns` task group (issue 13). Best Buy accepts and
-- labels a return; the Receiver receives it (RT25), judges it (RT26), refunds a mail-in one (OR28,
-- through money_intents with return_id) and Best Buy's flow closes it (RT27). In-store returns are
-- received and refunded by Best Buy: recorded here, never refunded again.
CREATE TABLE returns (
    return_id          text PRIMARY KEY,
    order_id           text NOT NULL,                    -- Mirakl order id (the order may predate us)
    commercial_id      text,
    state              text NOT NULL,                    -- Mirakl return state (lifecycle.MiraklReturnState)
    method_code        text,
    rma                text,
    tracking_pin       text,
    reason_code        text,
    return_lines       jsonb NOT NULL DEFAULT '[]'::jsonb,
    raw                jsonb NOT NULL,
    mirakl_created_at  timestamptz,
    mirakl_updated_at  timestamptz,
    received_by        text,
    received_at        timestamptz,
    judged_by          text,
    judged_at          timestamptz,
    closed_by          text,
    closed_at          timestamptz,
    first_seen_at      timestamptz NOT NULL DEFAULT now(),
    synced_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX returns_order_idx ON returns (order_id);
CREATE INDEX returns_commercial_idx ON returns (commercial_id);
CREATE INDEX returns_pin_idx ON returns (tracking_pin) WHERE tracking_pin IS NOT NULL;
CREATE INDEX returns_rma_idx ON returns (rma) WHERE rma IS NOT NULL;
CREATE INDEX returns_open_idx ON returns (mirakl_created_at) WHERE closed_at IS NULL;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'orderflow_grafana') THEN
        -- order_lines too: the incident panels read the OR11 line state ingest keeps (INCIDENT_OPEN).
        GRANT SELECT ON returns, order_lines TO orderflow_grafana;
    END IF;
END;
$$;
