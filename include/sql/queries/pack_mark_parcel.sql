-- The packing fact on the parcel: this session packed it.
UPDATE shipments SET pack_session_id = %(session_id)s, updated_at = now()
 WHERE id = %(shipment_id)s AND pack_session_id IS NULL
RETURNING id
