UPDATE money_intents
   SET status = %(done)s, mirakl_id = %(mirakl_id)s, error = NULL, settled_at = now(), updated_at = now()
 WHERE intent_id = %(intent_id)s AND status = %(open)s
RETURNING *
