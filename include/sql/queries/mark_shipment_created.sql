UPDATE shipments
   SET status = 'created', shipment_id = %(shipment_id)s, tracking_pin = %(tracking_pin)s,
       links = %(links)s, price = %(price)s, group_id = COALESCE(%(group_id)s, group_id),
       error = NULL, attempts = attempts + 1, updated_at = now()
 WHERE customer_request_id = %(customer_request_id)s AND status IN ('intent', 'created')
RETURNING *
