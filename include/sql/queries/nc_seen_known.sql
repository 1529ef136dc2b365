-- The remembered non-contract shipments among the listed links.
SELECT href, shipment_id, tracking_pin, customer_ref_1, customer_ref_2, links
  FROM canadapost_seen_shipments
 WHERE href = ANY(%(hrefs)s)
