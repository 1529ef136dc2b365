-- The "Close the day" page: groups of mailing days from %(since)s on, and every unsettled older one,
-- with their parcels (live labels), what is still to pack, voids and refund requests.
SELECT g.group_id, g.mailing_date, g.seq, g.status, g.closed_at, g.closed_by, g.transmitted_at,
       g.transmit_attempts, g.doubt, g.detail,
       count(s.id) FILTER (WHERE s.status = ANY(%(live)s)) AS parcels,
       count(s.id) FILTER (WHERE s.status = 'label_stored' AND s.packing_expected
                             AND s.pack_session_id IS NULL) AS to_pack,
       count(s.id) FILTER (WHERE s.status = 'voided') AS voided,
       count(s.id) FILTER (WHERE s.status = 'refund_requested') AS refund_requested,
       count(s.id) FILTER (WHERE s.manifest_row_id IS NOT NULL) AS manifested
  FROM shipping_groups g
  LEFT JOIN shipments s ON s.group_id = g.group_id
 WHERE g.mailing_date >= %(since)s OR g.status = ANY(%(unsettled)s)
 GROUP BY g.group_id
 ORDER BY g.mailing_date DESC, g.seq DESC
 LIMIT 200
