-- Orders held by a live claim: who holds them (step, task try) and since when.
SELECT c.order_id, o.current_status AS status, c.step, c.claimed_by, c.dag_id, c.run_id, c.task_id,
       c.map_index, c.try_number, c.claimed_at, c.expires_at
  FROM order_claims c
  JOIN orders o ON o.order_id = c.order_id
 WHERE c.expires_at > now()
 ORDER BY c.claimed_at, c.order_id
 LIMIT %(limit)s
