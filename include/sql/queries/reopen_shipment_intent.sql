-- A person re-attempts an order whose label purchase failed: the failed row (Canada Post proved it
-- holds no shipment for this id) becomes an intent again, so the exactly-once protocol restarts
-- with a look-up of the same customer_request_id.
UPDATE shipments
   SET status = 'intent', error = NULL, updated_at = now()
 WHERE customer_request_id = %(customer_request_id)s AND status = 'failed'
RETURNING *
