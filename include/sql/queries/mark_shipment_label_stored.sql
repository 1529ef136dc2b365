UPDATE shipments
   SET status = 'label_stored', label_path = %(label_path)s, label_sha256 = %(label_sha256)s,
       label_content_type = %(label_content_type)s, updated_at = now()
 WHERE customer_request_id = %(customer_request_id)s AND status IN ('created', 'label_stored')
RETURNING *
