-- 011: what a non-contract look-up has read once at Canada Post (issue 12 item 9).
--
-- Get NC Shipments lists a time window as links only; finding our customer-request-id means reading
-- every listed shipment and its details (two GETs each). A shipment's id, PIN, links and references
-- never change, so a look-up keeps what it read here and later look-ups read only the links not in
-- this table. Keyed by the link exactly as Canada Post lists it.
CREATE TABLE canadapost_seen_shipments (
    href            text PRIMARY KEY,
    shipment_id     text NOT NULL,
    tracking_pin    text,
    customer_ref_1  text,
    customer_ref_2  text,
    links           jsonb NOT NULL DEFAULT '{}'::jsonb,
    first_seen_at   timestamptz NOT NULL DEFAULT now()
);
