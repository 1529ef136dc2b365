-- What sync already holds for these threads: ids, and whether every message is stored.
SELECT c.conversation_id, c.mirakl_thread_id, c.mirakl_message_count, c.last_message_at,
       (SELECT count(*) FROM messages m WHERE m.conversation_id = c.conversation_id AND m.mirakl_message_id IS NOT NULL)
           AS stored_messages
FROM conversations c
WHERE c.mirakl_thread_id = ANY(%(thread_ids)s)
