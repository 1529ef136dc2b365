-- One reply intent, locked for the claim's decision; lease_held: another request works on it now.
SELECT r.*,
       extract(epoch FROM now() - r.last_attempt_at)::double precision AS seconds_since_attempt,
       (r.status = 'sending' AND r.lease_until > now()) AS lease_held
  FROM agent_replies r
 WHERE r.reply_key = %(reply_key)s
   FOR UPDATE
