-- A packer scans or types an order id, a commercial id or a tracking PIN.
SELECT o.order_id
  FROM orders o
 WHERE o.order_id = %(code)s OR o.commercial_id = %(code)s
UNION
SELECT s.order_id FROM shipments s WHERE s.tracking_pin = %(code)s
LIMIT 2
