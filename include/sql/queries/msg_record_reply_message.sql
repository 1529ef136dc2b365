-- Our reply as a message. If sync stored it first (a crashed run's reply), mark that row instead.
INSERT INTO messages (mirakl_message_id, conversation_id, sender_type, sender_name, body, sent_at,
                      is_auto_reply, in_reply_to, template_name, sent_by)
VALUES (%(mirakl_message_id)s, %(conversation_id)s, 'SHOP', %(sender_name)s, %(body)s,
        COALESCE(%(sent_at)s, now()), %(is_auto_reply)s, %(in_reply_to)s, %(template_name)s, %(sent_by)s)
ON CONFLICT (mirakl_message_id) DO UPDATE
    SET is_auto_reply = EXCLUDED.is_auto_reply,
        in_reply_to = EXCLUDED.in_reply_to,
        template_name = EXCLUDED.template_name,
        sent_by = EXCLUDED.sent_by
RETURNING message_id, sent_at
