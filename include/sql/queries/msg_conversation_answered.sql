-- After our reply: mirror what Mirakl does (any shop message clears shop_reply_needed_since);
-- the next sync stores Mirakl's own values for the thread.
UPDATE conversations
SET reply_needed_since = NULL,
    last_message_at = GREATEST(last_message_at, %(sent_at)s),
    last_sender_type = 'SHOP',
    updated_at = now()
WHERE conversation_id = %(conversation_id)s
