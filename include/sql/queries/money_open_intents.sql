-- Unsettled intents (a killed try, a doubt Best Buy did not settle yet), oldest first.
SELECT *, false AS inserted FROM money_intents
 WHERE status = 'intent' AND created_at <= %(before)s
 ORDER BY created_at, intent_id
 LIMIT %(limit)s
