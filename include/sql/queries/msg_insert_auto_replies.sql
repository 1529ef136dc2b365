-- Ledger rows (execute_values), committed BEFORE any M12 call. The primary key (the customer
-- message) makes a second row impossible: a concurrent run's row wins, ours is not returned.
INSERT INTO auto_replies (customer_message_id, conversation_id, template_name, status, body, run_id, error)
VALUES %s
ON CONFLICT (customer_message_id) DO NOTHING
RETURNING customer_message_id, status
