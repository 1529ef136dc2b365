UPDATE auto_replies
SET status = %(status)s,
    reply_message_id = COALESCE(%(reply_message_id)s, reply_message_id),
    mirakl_message_id = COALESCE(%(mirakl_message_id)s, mirakl_message_id),
    error = %(error)s,
    attempts = attempts + %(attempted)s,
    run_id = %(run_id)s,
    updated_at = now()
WHERE customer_message_id = %(customer_message_id)s
