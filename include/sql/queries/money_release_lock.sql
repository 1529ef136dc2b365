SELECT pg_advisory_unlock(hashtextextended('orderflow:money:' || %(intent_id)s, 0)) AS unlocked
