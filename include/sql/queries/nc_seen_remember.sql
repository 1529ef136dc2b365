-- Keep what a look-up read (a link already kept stays as it was: its shipment never changes).
INSERT INTO canadapost_seen_shipments (href, shipment_id, tracking_pin, customer_ref_1, customer_ref_2, links)
VALUES %s
ON CONFLICT (href) DO NOTHING
