-- A doubt left open (Best Buy unreachable, nothing found yet): the intent stays for the next sweep.
UPDATE money_intents SET error = %(error)s, updated_at = now()
 WHERE intent_id = %(intent_id)s AND status = %(open)s
RETURNING *
