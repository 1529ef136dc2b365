-- Shards of the order steps (issue 15): with SHARDS > 1 each step runs as SHARDS mapped task
-- instances, each claiming only the orders of its own shard. One function decides an order's shard,
-- so the claim, the re-attempt and the void queries can never disagree; hashtext is stable for a
-- given server, and every shard of a run asks the same server.
CREATE OR REPLACE FUNCTION order_shard(order_id text, shards integer) RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE WHEN shards IS NULL OR shards <= 1 THEN 0
                ELSE mod(hashtext(order_id)::bigint + 2147483648, shards)::integer END;
