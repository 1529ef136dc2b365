-- Canada Post voided the label (or, asked again, holds no active shipment any more). Only a live
-- shipment of a canceled order can become 'voided'.
UPDATE shipments s
   SET status = 'voided', voided_at = now(), void_detail = %(detail)s, error = NULL, updated_at = now()
  FROM orders o
 WHERE s.id = %(id)s
   AND s.status IN ('created', 'label_stored')
   AND o.order_id = s.order_id AND o.current_status = 'canceled'
RETURNING s.*
