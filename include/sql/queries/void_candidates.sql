-- Live shipments (a label bought, neither voided nor refunded) of orders whose current status is
-- ended (lifecycle.ENDED; the sets come from orderflow.lifecycle as parameters): money a cancellation left spent. A shipment the void step failed permanently waits for
-- a person: only a re-try of the run that failed it (the task cleared) takes it again. Keyset
-- pagination on shipments.id; canceled orders are few, each joins through shipments_order_idx.
SELECT s.*, o.current_status AS order_status
  FROM orders o
  JOIN shipments s ON s.order_id = o.order_id
 WHERE o.current_status = ANY(%(order_statuses)s)
   AND s.status = ANY(%(shipment_statuses)s)
   AND order_shard(o.order_id, %(shards)s) = %(shard)s
   AND (s.error IS NULL
        OR s.error->>'step' IS DISTINCT FROM 'void_labels'
        OR s.error->>'run_id' = %(run_id)s)
   AND s.id > %(after_id)s
 ORDER BY s.id
 LIMIT %(limit)s
