-- The packing station's queue: orders in the packable statuses, Best Buy's ship-by deadline first.
-- Only what the queue shows: no address beyond the city.
SELECT o.order_id,
       o.commercial_id,
       o.current_status,
       o.current_status_at,
       o.shipping_deadline,
       o.customer_firstname,
       o.customer_lastname,
       o.shipping_city,
       o.shipping_province,
       (SELECT count(*) FROM order_lines l WHERE l.order_id = o.order_id)                   AS line_count,
       (SELECT coalesce(sum(l.quantity), 0) FROM order_lines l WHERE l.order_id = o.order_id) AS unit_count,
       (SELECT s.tracking_pin FROM shipments s
         WHERE s.order_id = o.order_id AND s.tracking_pin IS NOT NULL
         ORDER BY s.package_no LIMIT 1)                                                   AS tracking_pin,
       EXISTS (SELECT 1 FROM pack_sessions ps WHERE ps.order_id = o.order_id AND ps.status = 'open') AS in_progress
  FROM orders o
 WHERE o.current_status = ANY(%(statuses)s)
 ORDER BY o.shipping_deadline NULLS LAST, o.order_id
 LIMIT %(limit)s
