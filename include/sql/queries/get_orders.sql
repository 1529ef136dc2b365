SELECT * FROM orders WHERE order_id = ANY(%(order_ids)s)
