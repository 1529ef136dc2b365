-- One shipment with its order's current status (re-read under the package's advisory lock).
SELECT s.*, o.current_status AS order_status
  FROM shipments s
  JOIN orders o ON o.order_id = s.order_id
 WHERE s.id = %(id)s
