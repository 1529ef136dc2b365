-- Log a label print; any earlier print of the same label makes this one a reprint.
INSERT INTO label_prints (order_id, shipment_id, printed_by, is_reprint)
SELECT %(order_id)s, %(shipment_id)s, %(printed_by)s,
       EXISTS (SELECT 1 FROM label_prints p WHERE p.shipment_id = %(shipment_id)s)
RETURNING *
