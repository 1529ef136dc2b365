SELECT *, false AS inserted FROM money_intents WHERE return_id = %(return_id)s ORDER BY created_at, intent_id
