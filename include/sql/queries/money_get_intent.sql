SELECT *, false AS inserted FROM money_intents WHERE intent_id = %(intent_id)s
