UPDATE shipments
   SET status = 'voided', voided_at = now(), refund_ticket_id = %(refund_ticket_id)s, updated_at = now()
 WHERE id = %(id)s
RETURNING *
