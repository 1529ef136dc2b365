-- 006: what the messaging task group needs beyond 003.
--
-- human_reply_needed_since: the inbox's "a person still owes this customer an answer" clock.
-- Mirakl's shop_reply_needed_since (reply_needed_since) is cleared by ANY shop message, our
-- automatic acknowledgement included; the seller still wants a human answer after an auto-reply.
-- The store recomputes this column (msg_refresh_reply_flags.sql) after every sync and every reply:
--   NULL when Mirakl says no answer is owed and no auto-reply stands in for one;
--   otherwise the earliest of Mirakl's clock and the first customer message after the latest
--   human-written shop message (auto-replies do not stop that clock).
ALTER TABLE conversations ADD COLUMN human_reply_needed_since timestamptz;
CREATE INDEX conversations_human_reply_idx ON conversations (human_reply_needed_since NULLS LAST, last_message_at DESC);
-- Mirakl's metadata.total_count: lets sync skip M10 when every message is already stored.
ALTER TABLE conversations ADD COLUMN mirakl_message_count integer;

-- The auto-reply ledger keeps the exact text committed before M12 (a crashed run's reply is
-- recognised by it) and the Mirakl id of the reply once known.
ALTER TABLE auto_replies ADD COLUMN body text;
ALTER TABLE auto_replies ADD COLUMN mirakl_message_id text;
ALTER TABLE auto_replies ADD COLUMN attempts integer NOT NULL DEFAULT 0;
CREATE INDEX auto_replies_open_idx ON auto_replies (status) WHERE status IN ('intent', 'failed');
