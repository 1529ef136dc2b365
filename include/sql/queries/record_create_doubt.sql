-- A create POST for this intent may be processed at Canada Post from now on: before a POST, and
-- again right after an ambiguous answer (migration 016). DB clock, shared by every worker.
UPDATE shipments
   SET create_doubt_at = now(), updated_at = now()
 WHERE customer_request_id = %(customer_request_id)s AND status = 'intent'
RETURNING create_doubt_at
