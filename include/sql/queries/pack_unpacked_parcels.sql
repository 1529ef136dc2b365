-- The order's labelled parcels not packed yet (locked: the pack closing them runs in this transaction).
SELECT id, package_no, tracking_pin
  FROM shipments
 WHERE order_id = %(order_id)s AND status = 'label_stored' AND packing_expected AND pack_session_id IS NULL
 ORDER BY package_no
   FOR UPDATE
