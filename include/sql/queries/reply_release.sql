-- The lease holder's verdict on an attempt or a read-back that did not end in "sent".
UPDATE agent_replies
   SET status = %(status)s,
       lease_until = NULL,
       error = coalesce(%(error)s, error),
       checked_at = CASE WHEN %(checked)s THEN now() ELSE checked_at END,
       updated_at = now()
 WHERE reply_key = %(reply_key)s AND status <> 'sent'
RETURNING *
