-- Lease up to `limit` orders whose current status is one of `statuses` to `owner` for `ttl` seconds.
-- `require_packed` (tracking with the pack gate on): only orders with no labelled parcel left to pack
-- (or in `packed_statuses`, packed by definition: the status written before migration 010).
-- A claim is free once expired, or once held by a try Airflow says has ended: `ended_owners` /
-- `ended_tries` pair a claim owner with the last try of it known to be over (that try and earlier).
-- The claim records the task try taking it (`dag_id` ... `try_number`, NULL outside a task).
-- SKIP LOCKED keeps two concurrent claimers off each other's rows; ON CONFLICT ... WHERE makes a
-- live lease win even if a claimer read a stale snapshot. `shard` of `shards`: only this
-- shard's orders (order_shard(); shards = 1 is every order).
WITH ended AS (
    SELECT owner, try FROM unnest(%(ended_owners)s::text[], %(ended_tries)s::integer[]) AS e (owner, try)
),
candidates AS (
    SELECT o.order_id
      FROM orders o
     WHERE o.current_status = ANY(%(statuses)s)
       AND order_shard(o.order_id, %(shards)s) = %(shard)s
       AND (NOT %(require_packed)s OR o.current_status = ANY(%(packed_statuses)s) OR NOT EXISTS (
           SELECT 1 FROM shipments s
            WHERE s.order_id = o.order_id AND s.status = 'label_stored' AND s.packing_expected
              AND s.pack_session_id IS NULL))
       AND NOT EXISTS (
           SELECT 1 FROM order_claims c
            WHERE c.order_id = o.order_id AND c.expires_at > now()
              AND NOT EXISTS (SELECT 1 FROM ended WHERE ended.owner = c.claimed_by AND c.try_number <= ended.try))
     ORDER BY o.shipping_deadline NULLS LAST, o.order_id
     LIMIT %(limit)s
       FOR UPDATE OF o SKIP LOCKED
)
INSERT INTO order_claims (order_id, step, claimed_by, claimed_at, expires_at,
                          dag_id, run_id, task_id, map_index, try_number)
SELECT order_id, %(step)s, %(owner)s, now(), now() + make_interval(secs => %(ttl)s),
       %(dag_id)s, %(run_id)s, %(task_id)s, %(map_index)s, %(try_number)s
  FROM candidates
ON CONFLICT (order_id) DO UPDATE
   SET step = EXCLUDED.step, claimed_by = EXCLUDED.claimed_by,
       claimed_at = EXCLUDED.claimed_at, expires_at = EXCLUDED.expires_at,
       dag_id = EXCLUDED.dag_id, run_id = EXCLUDED.run_id, task_id = EXCLUDED.task_id,
       map_index = EXCLUDED.map_index, try_number = EXCLUDED.try_number
 WHERE order_claims.expires_at <= now()
    OR EXISTS (SELECT 1 FROM ended
                WHERE ended.owner = order_claims.claimed_by AND order_claims.try_number <= ended.try)
RETURNING order_id
