-- 004: products and their scannable components, and the packing station's sessions and scans.

CREATE TABLE products (
    sku          text PRIMARY KEY,                        -- our offer SKU (Mirakl offer_sku)
    name         text NOT NULL,
    weight_kg    numeric(8, 3) NOT NULL CHECK (weight_kg > 0),
    length_cm    numeric(6, 1),
    width_cm     numeric(6, 1),
    height_cm    numeric(6, 1),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE product_components (
    id           bigserial PRIMARY KEY,
    sku          text NOT NULL REFERENCES products (sku),
    barcode      text NOT NULL,
    name         text NOT NULL,
    quantity     integer NOT NULL DEFAULT 1 CHECK (quantity > 0),   -- units per product unit
    UNIQUE (sku, barcode)
);
CREATE INDEX product_components_barcode_idx ON product_components (barcode);

CREATE TABLE pack_sessions (
    id               bigserial PRIMARY KEY,
    order_id         text NOT NULL REFERENCES orders (order_id),
    packer           text NOT NULL,
    status           text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'packed', 'abandoned')),
    started_at       timestamptz NOT NULL DEFAULT now(),
    completed_at     timestamptz,
    override_reason  text,
    override_by      text
);
CREATE INDEX pack_sessions_order_idx ON pack_sessions (order_id, started_at DESC);
-- one open session per order at a time
CREATE UNIQUE INDEX pack_sessions_one_open ON pack_sessions (order_id) WHERE status = 'open';

CREATE TABLE pack_scans (
    id              bigserial PRIMARY KEY,
    session_id      bigint NOT NULL REFERENCES pack_sessions (id),
    order_id        text NOT NULL REFERENCES orders (order_id),
    barcode         text NOT NULL,
    order_line_id   text REFERENCES order_lines (order_line_id),
    component_id    bigint REFERENCES product_components (id),
    result          text NOT NULL CHECK (result IN ('ok', 'wrong_item', 'extra_unit', 'unknown_code', 'override')),
    scanned_by      text NOT NULL,
    scanned_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    detail          jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX pack_scans_session_idx ON pack_scans (session_id, id);

CREATE TABLE label_prints (
    id            bigserial PRIMARY KEY,
    order_id      text NOT NULL REFERENCES orders (order_id),
    shipment_id   bigint REFERENCES shipments (id),
    printed_by    text NOT NULL,
    is_reprint    boolean NOT NULL DEFAULT false,
    printed_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX label_prints_order_idx ON label_prints (order_id);
