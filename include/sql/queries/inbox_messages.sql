SELECT message_id, mirakl_message_id, sender_type, sender_name, body, sent_at, is_auto_reply,
       sent_by, template_name
  FROM messages
 WHERE conversation_id = %(conversation_id)s
 ORDER BY sent_at, message_id
