-- Who holds live claims on orders in `statuses` (other than `owner`): one row per claim owner and
-- task, with the latest try of it holding one. The claimer asks Airflow whether those tries ended.
SELECT c.claimed_by, c.dag_id, c.run_id, c.task_id, c.map_index, max(c.try_number) AS try_number,
       count(*) AS orders
  FROM order_claims c
  JOIN orders o ON o.order_id = c.order_id
 WHERE o.current_status = ANY(%(statuses)s)
   AND c.claimed_by <> %(owner)s
   AND c.expires_at > now()
   AND c.dag_id IS NOT NULL AND c.try_number IS NOT NULL
 GROUP BY c.claimed_by, c.dag_id, c.run_id, c.task_id, c.map_index
