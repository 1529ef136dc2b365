-- Canada Post answered that it did not process the create (throttled, never connected): no POST of
-- this intent is pending any more.
UPDATE shipments
   SET create_doubt_at = NULL, updated_at = now()
 WHERE customer_request_id = %(customer_request_id)s AND status = 'intent'
   AND create_doubt_at = %(doubt_at)s
RETURNING id
