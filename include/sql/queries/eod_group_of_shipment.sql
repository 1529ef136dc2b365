-- The status of a shipment's group (none: not a daily group of ours, e.g. a literal group_id).
SELECT g.group_id, g.status
  FROM shipments s JOIN shipping_groups g ON g.group_id = s.group_id
 WHERE s.id = %(id)s
