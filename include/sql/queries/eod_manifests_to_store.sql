-- Manifests whose PDF is not stored yet, with the PINs of the shipments they hold.
SELECT m.*, coalesce((SELECT array_agg(s.tracking_pin ORDER BY s.id) FROM shipments s
                       WHERE s.manifest_row_id = m.id), '{}') AS tracking_pins
  FROM manifests m
 WHERE m.status = 'listed'
 ORDER BY m.id
