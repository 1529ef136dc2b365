-- An agent's reply that Mirakl accepted (M12). If an inbox sync stored it first (it ran between
-- M12 and this insert), that row is marked as the agent's instead of storing a second copy.
INSERT INTO messages (mirakl_message_id, conversation_id, sender_type, sender_name, body, sent_at,
                      is_auto_reply, sent_by, template_name, raw)
VALUES (%(mirakl_message_id)s, %(conversation_id)s, 'SHOP', %(sender_name)s, %(body)s, %(sent_at)s,
        false, %(sent_by)s, %(template_name)s, %(raw)s)
ON CONFLICT (mirakl_message_id) DO UPDATE
    SET sent_by = EXCLUDED.sent_by,
        sender_name = EXCLUDED.sender_name,
        template_name = EXCLUDED.template_name
RETURNING *
