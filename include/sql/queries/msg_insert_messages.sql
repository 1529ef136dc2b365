-- Messages are immutable at Mirakl: insert once (execute_values). A reply we recorded ourselves
-- before sync saw it (raw = '{}') takes Mirakl's date and payload once; otherwise nothing is
-- written again, so a re-sync writes nothing. Bodies are stored verbatim (escaped at display).
INSERT INTO messages (mirakl_message_id, conversation_id, sender_type, sender_name, body, sent_at, raw)
VALUES %s
ON CONFLICT (mirakl_message_id) DO UPDATE
    SET sent_at = EXCLUDED.sent_at, raw = EXCLUDED.raw, sender_name = EXCLUDED.sender_name
    WHERE messages.raw = '{}'::jsonb
RETURNING message_id, conversation_id, (xmax = 0) AS inserted
