SELECT * FROM shipments WHERE order_id = ANY(%(order_ids)s) ORDER BY order_id, package_no
