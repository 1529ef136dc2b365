-- 012: refunds (OR28) and seller cancelations (OR30) of order lines, exactly once (issue 13).
--
-- OR28/OR30 carry no idempotency key. The protocol (orderflow.aftersale): the intent is committed
-- here BEFORE Best Buy is called, under a deterministic id (<order_line_id>:<purpose>); `attempts`
-- is raised (and committed) before each call; after any doubt the order is read back with OR11 and
-- the line's refunds/cancelations not in `known_ids` (what the line held when the intent was made)
-- nor claimed by another intent are matched against the amounts before anything is sent again.

CREATE TABLE money_intents (
    intent_id        text PRIMARY KEY,                 -- <order_line_id>:<purpose>
    kind             text NOT NULL CHECK (kind IN ('refund', 'cancel')),
    order_id         text NOT NULL REFERENCES orders (order_id),
    order_line_id    text NOT NULL,
    purpose          text NOT NULL,                    -- e.g. refund#1, cancel#1, return:<return id>
    amount           numeric(12, 2) NOT NULL CHECK (amount >= 0),
    shipping_amount  numeric(12, 2) NOT NULL DEFAULT 0 CHECK (shipping_amount >= 0),
    quantity         integer NOT NULL DEFAULT 0 CHECK (quantity >= 0),
    taxes            jsonb NOT NULL DEFAULT '[]'::jsonb,  -- [{"code", "amount"}]
    reason_code      text NOT NULL,
    status           text NOT NULL DEFAULT 'intent'
                     CHECK (status IN ('intent', 'done', 'failed')),
    known_ids        jsonb NOT NULL DEFAULT '[]'::jsonb,  -- the line's refund/cancelation ids at intent time
    mirakl_id        text UNIQUE,                      -- refund_id / cancelation_id once matched
    return_id        text,                             -- the return this refund settles, if any
    requested_by     text,                             -- the person (FAB user) or step that asked
    note             text,
    attempts         integer NOT NULL DEFAULT 0,       -- calls started (committed before each call)
    error            jsonb,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    settled_at       timestamptz
);
-- One unsettled intent per line and kind: a second one could not be told apart on read-back.
CREATE UNIQUE INDEX money_intents_one_open_per_line ON money_intents (order_line_id, kind)
    WHERE status = 'intent';
CREATE INDEX money_intents_order_idx ON money_intents (order_id);
CREATE INDEX money_intents_open_idx ON money_intents (created_at) WHERE status = 'intent';
CREATE INDEX money_intents_return_idx ON money_intents (return_id) WHERE return_id IS NOT NULL;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'orderflow_grafana') THEN
        GRANT SELECT ON money_intents TO orderflow_grafana;
    END IF;
END;
$$;
