SELECT * FROM pack_sessions WHERE order_id = %(order_id)s ORDER BY started_at DESC, id DESC LIMIT 1
