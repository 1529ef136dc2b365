-- Canada Post could not void the label (transmitted, or non-contract) and took a refund request:
-- its service ticket id (NULL when the request was made before and the ticket not answered again).
UPDATE shipments s
   SET status = 'refund_requested', refund_ticket_id = %(refund_ticket_id)s, refund_requested_at = now(),
       void_detail = %(detail)s, error = NULL, updated_at = now()
  FROM orders o
 WHERE s.id = %(id)s
   AND s.status = ANY(%(shipment_statuses)s)  -- lifecycle.VOIDABLE
   AND o.order_id = s.order_id AND o.current_status = ANY(%(order_statuses)s)  -- lifecycle.ENDED
RETURNING s.*
