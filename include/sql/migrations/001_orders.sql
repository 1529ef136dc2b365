-- 001: orders, lines, the append-only status history and the status machine.
--
-- An order's state is its latest order_status_history row. orders.current_status is a cache of
-- that row kept by a trigger in the same transaction as the insert, so "orders whose current
-- status is X" is an index lookup at millions of history rows instead of a scan.

CREATE TABLE orders (
    order_id              text PRIMARY KEY,              -- Mirakl order id, e.g. 252884385-A
    commercial_id         text,
    mirakl_state          text,                          -- order_state last seen at Best Buy
    created_date          timestamptz NOT NULL,
    last_updated_date     timestamptz,
    acceptance_deadline   timestamptz,                   -- Best Buy: accept within 24 h of creation
    shipping_deadline     timestamptz,
    leadtime_to_ship      integer,
    customer_id           text,
    customer_firstname    text,
    customer_lastname     text,
    shipping_address      jsonb,                         -- null until Best Buy releases it (SHIPPING)
    shipping_city         text,
    shipping_province     text,
    shipping_postal_code  text,
    shipping_country      text,
    price                 numeric(12, 2),
    shipping_price        numeric(12, 2),
    total_price           numeric(12, 2),
    currency              text NOT NULL DEFAULT 'CAD',
    raw                   jsonb NOT NULL,                -- the Mirakl OR11 payload as last seen
    ingested_at           timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    current_status        text,                          -- trigger-maintained, see below
    current_status_at     timestamptz,
    current_history_id    bigint
);

CREATE TABLE order_lines (
    order_line_id   text PRIMARY KEY,
    order_id        text NOT NULL REFERENCES orders (order_id),
    line_index      integer,
    offer_sku       text,
    product_sku     text,
    title           text,
    quantity        integer NOT NULL CHECK (quantity > 0),
    price_unit      numeric(12, 2),
    price           numeric(12, 2),
    shipping_price  numeric(12, 2),
    total_price     numeric(12, 2),
    state           text,
    raw             jsonb NOT NULL
);
CREATE INDEX order_lines_order_id_idx ON order_lines (order_id);

CREATE TABLE order_statuses (
    status      text PRIMARY KEY,
    description text NOT NULL
);
INSERT INTO order_statuses (status, description) VALUES
    ('pending_acceptance', 'New at Best Buy; waiting for our acceptance (OR21)'),
    ('accepted',           'Accepted and confirmed by Best Buy; waiting for a label'),
    ('acceptance_failed',  'Acceptance failed; needs a person'),
    ('refused',            'Refused (by us or by Best Buy at timeout)'),
    ('canceled',           'Canceled at Best Buy (customer, operator or payment refused)'),
    ('label_created',      'Canada Post label bought, validated and stored'),
    ('label_failed',       'Label purchase failed permanently; needs a person'),
    ('packed',             'Verified at the packing station'),
    ('shipped',            'Tracking sent (OR23) and shipment confirmed (OR24)'),
    ('tracking_failed',    'Tracking or ship confirmation failed permanently; needs a person');

-- The status machine: one small table of allowed transitions. from_status NULL = first row.
-- plugins/orderflow/status.py holds the same table; a test asserts they are equal.
CREATE TABLE status_transitions (
    from_status text REFERENCES order_statuses (status),
    to_status   text NOT NULL REFERENCES order_statuses (status),
    UNIQUE NULLS NOT DISTINCT (from_status, to_status)
);
INSERT INTO status_transitions (from_status, to_status) VALUES
    (NULL, 'pending_acceptance'),
    (NULL, 'accepted'),
    (NULL, 'canceled'),
    (NULL, 'refused'),
    ('pending_acceptance', 'accepted'),
    ('pending_acceptance', 'acceptance_failed'),
    ('pending_acceptance', 'refused'),
    ('pending_acceptance', 'canceled'),
    ('accepted', 'label_created'),
    ('accepted', 'label_failed'),
    ('accepted', 'canceled'),
    ('label_created', 'packed'),
    ('label_created', 'shipped'),
    ('label_created', 'tracking_failed'),
    ('label_created', 'canceled'),
    ('packed', 'shipped'),
    ('packed', 'tracking_failed'),
    ('packed', 'canceled'),
    ('acceptance_failed', 'pending_acceptance'),
    ('acceptance_failed', 'canceled'),
    ('acceptance_failed', 'refused'),
    ('label_failed', 'accepted'),
    ('label_failed', 'canceled'),
    ('tracking_failed', 'label_created'),
    ('tracking_failed', 'packed'),
    ('tracking_failed', 'canceled');

CREATE TABLE order_status_history (
    id          bigserial PRIMARY KEY,
    order_id    text NOT NULL REFERENCES orders (order_id),
    status      text NOT NULL REFERENCES order_statuses (status),
    from_status text,
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    run_id      text,                                   -- Airflow run id, when a DAG run wrote it
    actor       text,                                   -- a person (packer, agent) or a task id
    detail      jsonb NOT NULL DEFAULT '{}'::jsonb      -- reason, API codes/messages, ...
);
-- "One order's history" and "the latest row of an order" both walk this index backwards.
CREATE INDEX order_status_history_order_idx ON order_status_history (order_id, id DESC);
CREATE INDEX order_status_history_run_idx ON order_status_history (run_id) WHERE run_id IS NOT NULL;
CREATE INDEX order_status_history_created_idx ON order_status_history (created_at, status);

-- Append-only, enforced by the database.
CREATE FUNCTION order_status_history_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'order_status_history is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER order_status_history_no_update
    BEFORE UPDATE OR DELETE ON order_status_history
    FOR EACH ROW EXECUTE FUNCTION order_status_history_append_only();
CREATE TRIGGER order_status_history_no_truncate
    BEFORE TRUNCATE ON order_status_history
    FOR EACH STATEMENT EXECUTE FUNCTION order_status_history_append_only();

-- Every insert is checked against the status machine and moves the orders.current_status cache.
-- The orders row is locked first, so two concurrent writers of one order serialise here and the
-- second one is checked against the first one's result.
CREATE FUNCTION order_status_history_apply() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    previous text;
BEGIN
    SELECT current_status INTO previous FROM orders WHERE order_id = NEW.order_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown order %', NEW.order_id USING ERRCODE = 'foreign_key_violation';
    END IF;
    IF NOT EXISTS (
        SELECT 1 FROM status_transitions
        WHERE from_status IS NOT DISTINCT FROM previous AND to_status = NEW.status
    ) THEN
        RAISE EXCEPTION 'transition % -> % refused for order %', coalesce(previous, '(new)'), NEW.status, NEW.order_id
            USING ERRCODE = 'check_violation';
    END IF;
    NEW.from_status := previous;
    RETURN NEW;
END;
$$;
CREATE TRIGGER order_status_history_check
    BEFORE INSERT ON order_status_history
    FOR EACH ROW EXECUTE FUNCTION order_status_history_apply();

CREATE FUNCTION order_status_history_cache() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE orders
       SET current_status = NEW.status, current_status_at = NEW.created_at, current_history_id = NEW.id
     WHERE order_id = NEW.order_id;
    RETURN NULL;
END;
$$;
CREATE TRIGGER order_status_history_current
    AFTER INSERT ON order_status_history
    FOR EACH ROW EXECUTE FUNCTION order_status_history_cache();

-- Work queues: the status the DAG steps select on, in deadline order.
CREATE INDEX orders_current_status_idx ON orders (current_status, shipping_deadline, order_id);
CREATE INDEX orders_acceptance_idx ON orders (current_status, acceptance_deadline) WHERE current_status = 'pending_acceptance';
CREATE INDEX orders_last_updated_idx ON orders (last_updated_date);

-- Claims: a step leases the orders it works on, so overlapping runs never work one order at once
-- and a dead worker's lease simply expires.
CREATE TABLE order_claims (
    order_id    text PRIMARY KEY REFERENCES orders (order_id),
    step        text NOT NULL,
    claimed_by  text NOT NULL,
    claimed_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);

-- Everyone reads an order's current status through this view.
CREATE VIEW order_current_status AS
SELECT o.order_id,
       o.current_status    AS status,
       o.current_status_at AS status_at,
       h.detail            AS status_detail,
       h.run_id            AS status_run_id,
       o.mirakl_state,
       o.created_date,
       o.acceptance_deadline,
       o.shipping_deadline
  FROM orders o
  LEFT JOIN order_status_history h ON h.id = o.current_history_id;

-- Watermarks for incremental syncs (OR11 by update date, M11 updated_since).
CREATE TABLE sync_watermarks (
    name        text PRIMARY KEY,
    value       timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
