-- A person re-attempts an order whose label purchase failed: the failed row (Canada Post proved it
-- holds no shipment for this id) becomes an intent again, so the exactly-once protocol restarts
-- with a look-up of the same customer_request_id. No create can be pending (the last one was refused).
UPDATE shipments
   SET status = 'intent', error = NULL, create_doubt_at = NULL, updated_at = now()
 WHERE customer_request_id = %(customer_request_id)s AND status = 'failed'
RETURNING *
