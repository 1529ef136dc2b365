-- Lock one ledger row for the M12 call. SKIP LOCKED: a row another live worker holds is its
-- business; a crashed worker's lock died with its connection.
SELECT a.customer_message_id, a.conversation_id, a.template_name, a.status, a.body, a.run_id, a.attempts,
       extract(epoch FROM now() - a.updated_at)::double precision AS seconds_since_update,
       c.mirakl_thread_id, c.customer_id,
       m.sent_at AS customer_message_at, m.mirakl_message_id AS customer_mirakl_message_id
FROM auto_replies a
JOIN conversations c ON c.conversation_id = a.conversation_id
JOIN messages m ON m.message_id = a.customer_message_id
WHERE a.customer_message_id = %(customer_message_id)s
  AND a.status = ANY(%(statuses)s)
FOR UPDATE OF a SKIP LOCKED
