-- 016: no quick second purchase (issue 12 item 4).
--
-- create_doubt_at: when a create-shipment POST for this intent may last have been processed by
-- Canada Post without our knowing its outcome. Written before every POST (the intent's insert, or
-- an update before a later POST) and again right after an ambiguous answer (timeout, dropped
-- connection, 5xx, malformed body) whose immediate look-up found nothing; so a worker killed at any
-- point leaves it behind. No new POST for the request id until a look-up made at least
-- CREATE_RECHECK_SECONDS after it has found nothing (orderflow.operators.create_recheck).
-- NULL: no POST can be pending (none made yet, or Canada Post refused the last one, or it answered
-- that it never processed it: throttled, never connected).
ALTER TABLE shipments ADD COLUMN create_doubt_at timestamptz;

-- Intents from before this column: a POST may have been made when the row last changed.
UPDATE shipments SET create_doubt_at = updated_at WHERE status = 'intent';
