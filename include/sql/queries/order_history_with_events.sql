-- The order's history as people read it: its status rows (entry 'status') and its events (entry =
-- the event kind, status NULL), in the order they happened.
SELECT *
  FROM (SELECT 'status' AS entry, id, status, from_status, created_at, run_id, actor, detail
          FROM order_status_history
         WHERE order_id = %(order_id)s
        UNION ALL
        SELECT kind, id, NULL, NULL, created_at, NULL, actor, detail
          FROM order_events
         WHERE order_id = %(order_id)s) AS h
 ORDER BY created_at, entry = 'status' DESC, id
