-- Units counted so far in one pack session, per (line, component): accepted scans and overrides.
SELECT order_line_id, component_id, count(*) AS counted
  FROM pack_scans
 WHERE session_id = %(session_id)s
   AND result IN ('ok', 'override')
 GROUP BY order_line_id, component_id
