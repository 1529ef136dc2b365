-- Best Buy has the reply (M12's answer, or found by the M10 read-back): close the intent.
UPDATE agent_replies
   SET status = 'sent',
       lease_until = NULL,
       mirakl_message_id = %(mirakl_message_id)s,
       message_id = %(message_id)s,
       adopted = %(adopted)s,
       sent_at = %(sent_at)s,
       checked_at = CASE WHEN %(adopted)s THEN now() ELSE checked_at END,
       updated_at = now()
 WHERE reply_key = %(reply_key)s AND status <> 'sent'
RETURNING *
