-- A scan the station already posted (its own scan id), so a re-posted batch is not counted twice.
SELECT id, barcode, result, order_line_id, component_id, detail
  FROM pack_scans
 WHERE session_id = %(session_id)s AND detail ->> 'client_scan_id' = %(client_id)s
 LIMIT 1
