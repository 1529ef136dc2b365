SELECT current_status FROM orders WHERE order_id = %(order_id)s FOR UPDATE
