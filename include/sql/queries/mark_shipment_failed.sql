-- Only an intent that Canada Post has proven not to hold can fail: a created shipment is money spent.
UPDATE shipments
   SET status = 'failed', error = %(error)s, attempts = attempts + 1, updated_at = now()
 WHERE customer_request_id = %(customer_request_id)s AND status = 'intent'
RETURNING *
