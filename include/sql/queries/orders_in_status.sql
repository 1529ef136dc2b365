-- Keyset pagination over one current status, in deadline order.
SELECT order_id, current_status, current_status_at, mirakl_state, shipping_deadline
  FROM orders
 WHERE current_status = %(status)s
   AND (%(after)s::text IS NULL OR order_id > %(after)s)
 ORDER BY order_id
 LIMIT %(limit)s
