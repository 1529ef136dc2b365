SELECT *, false AS inserted FROM money_intents WHERE order_id = %(order_id)s ORDER BY created_at, intent_id
