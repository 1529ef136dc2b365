"""The orders dashboard's panel queries as they were before the database-at-scale rewrites (issue 8).

Kept verbatim so tests/grafana/test_rewritten_panels.py can check that each rewritten panel returns
exactly what its slower original returned: same rows, same order, same values.
"""

from __future__ import annotations

# Orders by current status
ORDERS_BY_CURRENT_STATUS = """\
SELECT s.status AS "status", count(o.order_id) AS "orders"
  FROM order_statuses s
  LEFT JOIN orders o ON o.current_status = s.status
 GROUP BY s.status
 ORDER BY count(o.order_id) DESC, s.status"""

# Time in each step (hours)
TIME_IN_EACH_STEP = """\
WITH firsts AS (
  SELECT h.order_id,
         min(h.created_at) FILTER (WHERE h.status = 'accepted')      AS accepted_at,
         min(h.created_at) FILTER (WHERE h.status = 'label_created') AS label_at,
         min(h.created_at) FILTER (WHERE h.status = 'shipped')       AS shipped_at
    FROM order_status_history h
   WHERE h.status IN ('accepted', 'label_created', 'shipped')
     AND h.order_id IN (SELECT order_id FROM order_status_history
                         WHERE status IN ('accepted', 'label_created', 'shipped')
                           AND $__timeFilter(created_at))
   GROUP BY h.order_id
), durations AS (
  SELECT 1 AS step_no, 'received → accepted' AS step, f.accepted_at AS done_at,
         extract(epoch FROM f.accepted_at - o.created_date) / 3600.0 AS hours
    FROM firsts f JOIN orders o ON o.order_id = f.order_id
  UNION ALL
  SELECT 2, 'accepted → label', label_at, extract(epoch FROM label_at - accepted_at) / 3600.0 FROM firsts
  UNION ALL
  SELECT 3, 'label → shipped', shipped_at, extract(epoch FROM shipped_at - label_at) / 3600.0 FROM firsts
)
SELECT step AS "step",
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY hours)::numeric, 2) AS "p50 (h)",
       round(percentile_cont(0.95) WITHIN GROUP (ORDER BY hours)::numeric, 2) AS "p95 (h)",
       count(*) AS "orders"
  FROM durations
 WHERE hours IS NOT NULL
   AND $__timeFilter(done_at)
 GROUP BY step_no, step
 ORDER BY step_no"""

# Time in each step, p95 per day (hours)
TIME_IN_EACH_STEP_P95_PER_DAY = """\
WITH firsts AS (
  SELECT h.order_id,
         min(h.created_at) FILTER (WHERE h.status = 'accepted')      AS accepted_at,
         min(h.created_at) FILTER (WHERE h.status = 'label_created') AS label_at,
         min(h.created_at) FILTER (WHERE h.status = 'shipped')       AS shipped_at
    FROM order_status_history h
   WHERE h.status IN ('accepted', 'label_created', 'shipped')
     AND h.order_id IN (SELECT order_id FROM order_status_history
                         WHERE status IN ('accepted', 'label_created', 'shipped')
                           AND $__timeFilter(created_at))
   GROUP BY h.order_id
), durations AS (
  SELECT 1 AS step_no, 'received → accepted' AS step, f.accepted_at AS done_at,
         extract(epoch FROM f.accepted_at - o.created_date) / 3600.0 AS hours
    FROM firsts f JOIN orders o ON o.order_id = f.order_id
  UNION ALL
  SELECT 2, 'accepted → label', label_at, extract(epoch FROM label_at - accepted_at) / 3600.0 FROM firsts
  UNION ALL
  SELECT 3, 'label → shipped', shipped_at, extract(epoch FROM shipped_at - label_at) / 3600.0 FROM firsts
)
SELECT $__timeGroupAlias(done_at, '1d'),
       step AS metric,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY hours) AS "p95 hours"
  FROM durations
 WHERE hours IS NOT NULL
   AND $__timeFilter(done_at)
 GROUP BY 1, 2
 ORDER BY 1, 2"""

PREVIOUS_SQL = {
    'Orders by current status': ORDERS_BY_CURRENT_STATUS,
    'Time in each step (hours)': TIME_IN_EACH_STEP,
    'Time in each step, p95 per day (hours)': TIME_IN_EACH_STEP_P95_PER_DAY,
}
