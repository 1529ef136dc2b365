-- Best Buy refused the call (a 4xx on a clean attempt, or nothing found after reading back a refusal):
-- nothing was applied; a person may make a new intent.
UPDATE money_intents
   SET status = %(failed)s, error = %(error)s, settled_at = now(), updated_at = now()
 WHERE intent_id = %(intent_id)s AND status = %(open)s
RETURNING *
