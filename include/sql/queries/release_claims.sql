DELETE FROM order_claims WHERE claimed_by = %(owner)s AND order_id = ANY(%(order_ids)s)
