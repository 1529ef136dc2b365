SELECT * FROM order_lines WHERE order_id = %(order_id)s ORDER BY line_index NULLS LAST, order_line_id
