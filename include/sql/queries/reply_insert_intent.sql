-- A composed reply's intent, committed before M12: the first submit of its one-time key makes it
-- (holding the lease, first attempt counted); a later submit finds it (reply_lock_intent).
INSERT INTO agent_replies (reply_key, conversation_id, agent, agent_name, body, template_name, status,
                           lease_until, attempts, last_attempt_at)
VALUES (%(reply_key)s, %(conversation_id)s, %(agent)s, %(agent_name)s, %(body)s, %(template_name)s, 'sending',
        now() + make_interval(secs => %(lease_seconds)s), 1, now())
ON CONFLICT (reply_key) DO NOTHING
RETURNING *, 0::double precision AS seconds_since_attempt, false AS lease_held
