-- Serialises opening a mailing day's next group (held until the transaction ends): two sessions
-- finding no open group must not open two.
SELECT pg_advisory_xact_lock(hashtextextended('orderflow:group:' || %(mailing_date)s::text, 0))
