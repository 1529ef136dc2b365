INSERT INTO order_events (order_id, kind, actor, detail)
VALUES (%(order_id)s, %(kind)s, %(actor)s, %(detail)s)
RETURNING id, order_id, kind, actor, detail, created_at
