-- The latest scans of one session, newest first (the station's scan log).
SELECT s.id, s.barcode, s.result, s.scanned_by, s.scanned_at, s.order_line_id, s.detail,
       c.name AS component_name
  FROM pack_scans s
  LEFT JOIN product_components c ON c.id = s.component_id
 WHERE s.session_id = %(session_id)s
 ORDER BY s.id DESC
 LIMIT %(limit)s
