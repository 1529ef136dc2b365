-- 002: Canada Post shipments, one row per physical package.
--
-- The exactly-once protocol (design.md): the row is committed with status 'intent' and a
-- deterministic customer_request_id BEFORE Canada Post is called; any doubt afterwards is settled
-- by looking that id up at Canada Post, never by a second blind create.

CREATE TABLE shipments (
    id                   bigserial PRIMARY KEY,
    order_id             text NOT NULL REFERENCES orders (order_id),
    package_no           integer NOT NULL DEFAULT 1 CHECK (package_no >= 1),
    customer_request_id  text NOT NULL UNIQUE,            -- <order_id>-<package_no>
    status               text NOT NULL DEFAULT 'intent'
                         CHECK (status IN ('intent', 'created', 'label_stored', 'failed', 'voided')),
    transport            text,                            -- 'xml' or 'portal'
    shipment_id          text UNIQUE,                     -- Canada Post's id
    tracking_pin         text UNIQUE,
    service_code         text,
    group_id             text,
    links                jsonb NOT NULL DEFAULT '{}'::jsonb,
    weight_kg            numeric(8, 3),
    dimensions_cm        jsonb,
    price                numeric(10, 2),                  -- due amount, taxes included
    currency             text NOT NULL DEFAULT 'CAD',
    label_path           text,
    label_sha256         text,
    label_content_type   text,
    attempts             integer NOT NULL DEFAULT 0,
    error                jsonb,                           -- carrier messages of the last failure
    void_requested_at    timestamptz,
    voided_at            timestamptz,
    refund_ticket_id     text,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    UNIQUE (order_id, package_no)
);
CREATE INDEX shipments_order_idx ON shipments (order_id);
CREATE INDEX shipments_status_idx ON shipments (status) WHERE status IN ('intent', 'created');
CREATE INDEX shipments_created_idx ON shipments (created_at);
