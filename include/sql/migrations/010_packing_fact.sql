-- 010: packing is a fact about the parcel, not a link in the order's status chain.
--
-- A packer closing a pack session marks the parcel (shipments.pack_session_id) packed; the order's
-- status does not move. The packing queue is every labelled parcel not packed yet, whether or not
-- Best Buy was told it shipped; with the pack gate on, tracking waits for it (orderflow.lifecycle).
-- History rows keep their meaning: a 'packed' row written before this migration still says
-- "verified at the packing station", and tracking takes such an order whatever the settings.
ALTER TABLE pack_sessions ADD COLUMN shipment_id bigint REFERENCES shipments (id);  -- the parcel packed
ALTER TABLE shipments ADD COLUMN pack_session_id bigint REFERENCES pack_sessions (id);
-- false: a parcel that left before packing was a fact (shipped before this migration without a
-- closed pack session): never listed on the queue.
ALTER TABLE shipments ADD COLUMN packing_expected boolean NOT NULL DEFAULT true;

-- Sessions closed before this migration packed the order's one stored label.
UPDATE pack_sessions ps
   SET shipment_id = (SELECT s.id FROM shipments s
                       WHERE s.order_id = ps.order_id AND s.status = 'label_stored'
                       ORDER BY s.package_no DESC LIMIT 1)
 WHERE ps.status = 'packed';
UPDATE shipments s
   SET pack_session_id = ps.id
  FROM pack_sessions ps
 WHERE ps.shipment_id = s.id AND ps.status = 'packed';
UPDATE shipments s
   SET packing_expected = false
  FROM orders o
 WHERE o.order_id = s.order_id AND o.current_status = 'shipped' AND s.pack_session_id IS NULL;

UPDATE order_statuses
   SET description = 'Verified at the packing station (written before migration 010 only; packing is now '
                     'pack_sessions/shipments.pack_session_id)'
 WHERE status = 'packed';

-- The packing queue: labelled parcels still to pack (few), found without reading shipped history.
CREATE INDEX shipments_to_pack_idx ON shipments (order_id)
 WHERE status = 'label_stored' AND packing_expected AND pack_session_id IS NULL;
