-- Lease up to `limit` orders whose current status is `status` to `owner` for `ttl` seconds.
-- SKIP LOCKED keeps two concurrent claimers off each other's rows; ON CONFLICT ... WHERE expired
-- makes a live lease win even if a claimer read a stale snapshot.
WITH candidates AS (
    SELECT o.order_id
      FROM orders o
     WHERE o.current_status = %(status)s
       AND NOT EXISTS (
           SELECT 1 FROM order_claims c WHERE c.order_id = o.order_id AND c.expires_at > now())
     ORDER BY o.shipping_deadline NULLS LAST, o.order_id
     LIMIT %(limit)s
       FOR UPDATE OF o SKIP LOCKED
)
INSERT INTO order_claims (order_id, step, claimed_by, claimed_at, expires_at)
SELECT order_id, %(step)s, %(owner)s, now(), now() + make_interval(secs => %(ttl)s)
  FROM candidates
ON CONFLICT (order_id) DO UPDATE
   SET step = EXCLUDED.step, claimed_by = EXCLUDED.claimed_by,
       claimed_at = EXCLUDED.claimed_at, expires_at = EXCLUDED.expires_at
 WHERE order_claims.expires_at <= now()
RETURNING order_id
