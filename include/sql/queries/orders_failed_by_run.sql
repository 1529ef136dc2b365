-- Orders whose *current* status is `status`, written by this DAG run's `actor` (one step). Used
-- when a person clears a task instance: what this run's step failed is re-attempted.
SELECT h.order_id, h.id AS history_id, h.from_status, h.detail
  FROM order_status_history h
  JOIN orders o ON o.current_history_id = h.id
 WHERE h.run_id = %(run_id)s
   AND h.actor = %(actor)s
   AND h.status = %(status)s
 ORDER BY h.order_id
