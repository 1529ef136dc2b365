-- Mirakl message ids of a conversation that already belong to a reply we know (an agent's intent,
-- an auto-reply, a stored message someone sent from here): a read-back never adopts them twice.
SELECT mirakl_message_id FROM agent_replies
 WHERE conversation_id = %(conversation_id)s AND mirakl_message_id IS NOT NULL AND reply_key <> %(reply_key)s
UNION
SELECT a.mirakl_message_id FROM auto_replies a
 WHERE a.conversation_id = %(conversation_id)s AND a.mirakl_message_id IS NOT NULL
UNION
SELECT m.mirakl_message_id FROM messages m
 WHERE m.conversation_id = %(conversation_id)s AND m.sent_by IS NOT NULL AND m.mirakl_message_id IS NOT NULL
   AND NOT EXISTS (SELECT 1 FROM agent_replies r WHERE r.reply_key = %(reply_key)s AND r.message_id = m.message_id)
