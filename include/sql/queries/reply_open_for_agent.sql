-- The agent's latest reply on this conversation that Best Buy does not have for sure: the page
-- shows its text again (with its key) and says where it stands.
SELECT r.*,
       extract(epoch FROM now() - r.last_attempt_at)::double precision AS seconds_since_attempt,
       (r.status = 'sending' AND r.lease_until > now()) AS lease_held
  FROM agent_replies r
 WHERE r.conversation_id = %(conversation_id)s AND r.agent = %(agent)s AND r.status <> 'sent'
 ORDER BY r.created_at DESC
 LIMIT 1
