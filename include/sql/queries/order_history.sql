SELECT id, order_id, status, from_status, created_at, run_id, actor, detail
  FROM order_status_history
 WHERE order_id = %(order_id)s
 ORDER BY id
