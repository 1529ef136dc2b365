-- Committed before each OR28/OR30 call: a later run that finds attempts > 0 reads Best Buy back first.
UPDATE money_intents SET attempts = attempts + 1, updated_at = now()
 WHERE intent_id = %(intent_id)s AND status = %(open)s
RETURNING *
