SELECT * FROM pack_sessions WHERE order_id = %(order_id)s AND status = 'open'
