INSERT INTO order_status_history (order_id, status, run_id, actor, detail)
VALUES (%(order_id)s, %(status)s, %(run_id)s, %(actor)s, %(detail)s)
RETURNING id, order_id, status, from_status, created_at, run_id, actor, detail
