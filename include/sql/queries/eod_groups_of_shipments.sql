-- Our daily groups that hold any of these Canada Post shipments.
SELECT DISTINCT g.group_id
  FROM shipments s JOIN shipping_groups g ON g.group_id = s.group_id
 WHERE s.shipment_id = ANY(%(shipment_ids)s)
