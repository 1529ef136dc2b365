-- The void step failed this live shipment permanently: keep why (with the run id) for a person.
UPDATE shipments
   SET error = %(error)s, updated_at = now()
 WHERE id = %(id)s AND status IN ('created', 'label_stored')
RETURNING *
