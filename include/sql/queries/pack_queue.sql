-- The packing station's queue, Best Buy's ship-by deadline first: every labelled parcel not packed
-- yet (a stored label, lifecycle.PRINTABLE; the partial index shipments_to_pack_idx) of an order in
-- lifecycle.PACK_QUEUE_STATUSES, whether or not Best Buy was already told it shipped; with the pack
-- gate on also the orders a packer may verify before their label exists (%(unlabelled)s).
-- Canceled orders are in neither list: their parcels leave the queue. Name and city only.
WITH parcels AS (
    SELECT s.order_id, min(s.tracking_pin) AS tracking_pin
      FROM shipments s
     WHERE s.status = 'label_stored' AND s.packing_expected AND s.pack_session_id IS NULL
     GROUP BY s.order_id
), queued AS (
    SELECT o.*, p.tracking_pin
      FROM parcels p
      JOIN orders o ON o.order_id = p.order_id
     WHERE o.current_status = ANY(%(statuses)s)
    UNION ALL
    SELECT o.*, NULL AS tracking_pin
      FROM orders o
     WHERE o.current_status = ANY(%(unlabelled)s)
)
SELECT q.order_id,
       q.commercial_id,
       q.current_status,
       q.current_status_at,
       q.shipping_deadline,
       q.customer_firstname,
       q.customer_lastname,
       q.shipping_city,
       q.shipping_province,
       (SELECT count(*) FROM order_lines l WHERE l.order_id = q.order_id)                   AS line_count,
       (SELECT coalesce(sum(l.quantity), 0) FROM order_lines l WHERE l.order_id = q.order_id) AS unit_count,
       q.tracking_pin,
       EXISTS (SELECT 1 FROM pack_sessions ps WHERE ps.order_id = q.order_id AND ps.status = 'open') AS in_progress
  FROM queued q
 ORDER BY q.shipping_deadline NULLS LAST, q.order_id
 LIMIT %(limit)s
