-- Close the session: it packed this parcel (shipment_id; the packing fact, migration 010).
UPDATE pack_sessions
   SET status = 'packed', completed_at = now(), override_reason = %(override_reason)s,
       override_by = %(override_by)s, shipment_id = %(shipment_id)s
 WHERE id = %(session_id)s AND status = 'open'
RETURNING *
