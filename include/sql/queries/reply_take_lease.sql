-- The claiming request takes the lease; with new_attempt it also counts an M12 call (and takes the
-- text it will send), committed before that call.
UPDATE agent_replies
   SET status = 'sending',
       lease_until = now() + make_interval(secs => %(lease_seconds)s),
       attempts = attempts + CASE WHEN %(new_attempt)s THEN 1 ELSE 0 END,
       last_attempt_at = CASE WHEN %(new_attempt)s THEN now() ELSE last_attempt_at END,
       body = CASE WHEN %(new_attempt)s THEN %(body)s ELSE body END,
       template_name = CASE WHEN %(new_attempt)s THEN %(template_name)s ELSE template_name END,
       agent = CASE WHEN %(new_attempt)s THEN %(agent)s ELSE agent END,
       agent_name = CASE WHEN %(new_attempt)s THEN %(agent_name)s ELSE agent_name END,
       updated_at = now()
 WHERE reply_key = %(reply_key)s
RETURNING *, extract(epoch FROM now() - last_attempt_at)::double precision AS seconds_since_attempt
