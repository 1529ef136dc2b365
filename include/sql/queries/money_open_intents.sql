-- Unsettled intents (a killed try, a doubt Best Buy did not settle yet), oldest first. %(open)s is
-- lifecycle.MI.INTENT, the predicate of money_intents_open_idx (tests/test_lifecycle.py).
SELECT *, false AS inserted FROM money_intents
 WHERE status = %(open)s AND created_at <= %(before)s
 ORDER BY created_at, intent_id
 LIMIT %(limit)s
