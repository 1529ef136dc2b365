-- How long ago (seconds, DB clock) a create POST of this intent may last have been processed;
-- NULL age = none can be pending. Read before the look-up, so the look-up is at least this late.
SELECT status, create_doubt_at, extract(epoch FROM now() - create_doubt_at)::float8 AS age_seconds
  FROM shipments
 WHERE customer_request_id = %(customer_request_id)s
