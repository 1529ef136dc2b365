-- Keep what a look-up read (a link already kept stays as it was: its shipment never changes), and
-- forget what was first seen more than 30 days ago: far outside any look-up window (nc_lookback_hours,
-- 48 h by default), so never listed again; a shipment forgotten too early is only read once more.
WITH forgotten AS (
    DELETE FROM canadapost_seen_shipments WHERE first_seen_at < now() - interval '30 days'
)
INSERT INTO canadapost_seen_shipments (href, shipment_id, tracking_pin, customer_ref_1, customer_ref_2, links)
VALUES %s
ON CONFLICT (href) DO NOTHING
