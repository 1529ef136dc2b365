-- Session advisory lock on one money intent, held for its Best Buy calls (released by unlock or when
-- the session ends: a killed worker's lock vanishes with its connection).
SELECT pg_try_advisory_lock(hashtextextended('orderflow:money:' || %(intent_id)s, 0)) AS locked
