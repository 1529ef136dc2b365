-- 008: indexes the benchmark at scale (bench/db_scale.py: 1,000,000 orders, 5,000,000 history rows)
-- showed missing. Each one turns a scan of every row into a walk of the rows a query returns.
--
-- orders_in_status.sql pages one current status by order_id (keyset). orders_current_status_idx is
-- (current_status, shipping_deadline, order_id): it cannot give order_id order within a status, so
-- the planner walked the primary key in order_id order and filtered on status. The queue states
-- hold the newest orders (the highest ids): 350 ms per page at 1M orders, 0.3 ms with this index.
CREATE INDEX orders_status_order_id_idx ON orders (current_status, order_id);

-- Grafana "Orders received" counts orders by created_date in the dashboard's time range: without
-- an index, a sequential scan of every order (90 ms at 1M orders) on every dashboard refresh.
CREATE INDEX orders_created_date_idx ON orders (created_date);

-- The inbox list (inbox_conversations.sql) orders by human_reply_needed_since ASC NULLS LAST,
-- last_message_at DESC NULLS LAST, conversation_id DESC. conversations_human_reply_idx (006) has
-- last_message_at DESC with NULLS FIRST and no tie-breaker, so every answered conversation (the
-- NULL group: nearly all of them) was fetched, joined to its last message and sorted for a page of
-- 50 (80 ms at 100,000 conversations). This index matches the ORDER BY exactly: the page is the
-- first 50 entries of the index, whatever the table's size.
CREATE INDEX conversations_inbox_list_idx
    ON conversations (human_reply_needed_since ASC NULLS LAST, last_message_at DESC NULLS LAST, conversation_id DESC);
