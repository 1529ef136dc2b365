-- The order's labels a packer can print: shipments whose PDF is stored.
SELECT id, package_no, tracking_pin, label_path, label_content_type, label_sha256, status
  FROM shipments
 WHERE order_id = %(order_id)s AND label_path IS NOT NULL AND status = 'label_stored'
 ORDER BY package_no
