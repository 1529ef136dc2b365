-- Record which of our shipments a manifest holds (a shipment is in one manifest at most).
UPDATE shipments SET manifest_row_id = %(manifest_row_id)s, updated_at = now()
 WHERE shipment_id = ANY(%(shipment_ids)s)
   AND (manifest_row_id IS NULL OR manifest_row_id = %(manifest_row_id)s)
RETURNING id, shipment_id, group_id, tracking_pin
