-- Ledger rows to work on: every intent (new, or left by a crashed run), and the failures of this
-- very run id (a person cleared the task instance in the UI: re-attempt them).
SELECT customer_message_id, status, run_id
FROM auto_replies
WHERE status = 'intent' OR (status = 'failed' AND run_id = %(run_id)s)
ORDER BY created_at, customer_message_id
