-- Name the group of an intent right before its create POST (same transaction as eod_open_group).
UPDATE shipments SET group_id = %(group_id)s, updated_at = now()
 WHERE customer_request_id = %(customer_request_id)s AND status = 'intent'
RETURNING group_id
