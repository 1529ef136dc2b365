-- The transmit intent, committed before Transmit Shipments is called.
UPDATE shipping_groups
   SET status = 'transmitting', transmit_requested_at = coalesce(transmit_requested_at, now()),
       transmit_attempts = transmit_attempts + 1, last_attempt_at = now(), updated_at = now()
 WHERE group_id = %(group_id)s AND status IN ('closed', 'transmitting')
RETURNING *
