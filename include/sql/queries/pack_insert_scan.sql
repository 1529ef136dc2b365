INSERT INTO pack_scans (session_id, order_id, barcode, order_line_id, component_id, result, scanned_by, detail)
VALUES (%(session_id)s, %(order_id)s, %(barcode)s, %(order_line_id)s, %(component_id)s, %(result)s,
        %(scanned_by)s, %(detail)s)
RETURNING id, scanned_at
