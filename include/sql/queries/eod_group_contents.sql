-- What a group holds: its intents (creates that may be in flight) and its live labels.
SELECT id, customer_request_id, status, shipment_id, tracking_pin
  FROM shipments
 WHERE group_id = %(group_id)s AND status = ANY(%(statuses)s)
 ORDER BY id
