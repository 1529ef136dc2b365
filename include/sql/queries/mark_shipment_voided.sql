-- Canada Post voided the label (or, asked again, holds no active shipment any more). Only a live
-- shipment of an ended order (lifecycle.ENDED, a parameter) can become 'voided'.
UPDATE shipments s
   SET status = 'voided', voided_at = now(), void_detail = %(detail)s, error = NULL, updated_at = now()
  FROM orders o
 WHERE s.id = %(id)s
   AND s.status = ANY(%(shipment_statuses)s)  -- lifecycle.VOIDABLE
   AND o.order_id = s.order_id AND o.current_status = ANY(%(order_statuses)s)  -- lifecycle.ENDED
RETURNING s.*
