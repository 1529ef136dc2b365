SELECT id, order_id, kind, actor, detail, created_at
  FROM order_events
 WHERE order_id = %(order_id)s
 ORDER BY id
