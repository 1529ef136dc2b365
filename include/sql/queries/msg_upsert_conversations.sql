-- One row per Mirakl thread (execute_values). Rows come back only when inserted or changed, so a
-- re-sync of unchanged threads writes nothing. An older copy of a thread (a slower overlapping
-- run) never overwrites a newer one: Mirakl's date_updated decides.
INSERT INTO conversations (
    mirakl_thread_id, order_id, customer_id, topic, last_message_at, last_sender_type,
    reply_needed_since, mirakl_message_count, raw
)
VALUES %s
ON CONFLICT (mirakl_thread_id) DO UPDATE
    SET order_id = EXCLUDED.order_id,
        customer_id = COALESCE(EXCLUDED.customer_id, conversations.customer_id),
        topic = EXCLUDED.topic,
        last_message_at = EXCLUDED.last_message_at,
        last_sender_type = EXCLUDED.last_sender_type,
        reply_needed_since = EXCLUDED.reply_needed_since,
        mirakl_message_count = EXCLUDED.mirakl_message_count,
        raw = EXCLUDED.raw,
        updated_at = now()
    WHERE ((conversations.raw ->> 'date_updated') IS NULL
           OR (EXCLUDED.raw ->> 'date_updated')::timestamptz >= (conversations.raw ->> 'date_updated')::timestamptz)
      AND (conversations.order_id, conversations.customer_id, conversations.topic, conversations.last_message_at,
           conversations.last_sender_type, conversations.reply_needed_since, conversations.mirakl_message_count,
           conversations.raw)
          IS DISTINCT FROM
          (EXCLUDED.order_id, COALESCE(EXCLUDED.customer_id, conversations.customer_id), EXCLUDED.topic,
           EXCLUDED.last_message_at, EXCLUDED.last_sender_type, EXCLUDED.reply_needed_since,
           EXCLUDED.mirakl_message_count, EXCLUDED.raw)
RETURNING conversation_id, mirakl_thread_id, (xmax = 0) AS inserted
