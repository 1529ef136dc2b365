SELECT * FROM order_lines WHERE order_id = ANY(%(order_ids)s) ORDER BY order_id, line_index NULLS LAST, order_line_id
