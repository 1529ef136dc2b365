-- Orders whose *current* status is `status`, written by this DAG run's `actor` (one step). Used
-- when a person clears a task instance: what this run's step failed is re-attempted (a cleared
-- shard re-attempts only its own shard's orders).
-- The run's rows come from order_status_history_run_idx; each is matched to its order by primary
-- key, then checked to be that order's current row. (Joining on current_history_id alone has no
-- index and scanned every order: 149 ms at 1,000,000 orders, 0.3 ms this way.)
SELECT h.order_id, h.id AS history_id, h.from_status, h.detail
  FROM order_status_history h
  JOIN orders o ON o.order_id = h.order_id AND o.current_history_id = h.id
 WHERE h.run_id = %(run_id)s
   AND h.actor = %(actor)s
   AND h.status = %(status)s
   AND order_shard(h.order_id, %(shards)s) = %(shard)s
 ORDER BY h.order_id
