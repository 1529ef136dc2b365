-- Open a session for the order unless one is open already (pack_sessions_one_open is the guard).
INSERT INTO pack_sessions (order_id, packer)
VALUES (%(order_id)s, %(packer)s)
ON CONFLICT (order_id) WHERE status = 'open' DO NOTHING
RETURNING *
