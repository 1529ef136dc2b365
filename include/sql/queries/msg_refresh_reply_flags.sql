-- Recompute conversations.human_reply_needed_since (see migration 006) for some conversations:
--   pending   = first CUSTOMER message after the latest human-written SHOP message
--   auto_after = an auto-reply stands after that human message (it cleared Mirakl's clock)
--   value     = NULL when Mirakl owes nothing and no auto-reply stands in for an answer,
--               else the earliest of Mirakl's clock and pending (LEAST ignores NULLs).
UPDATE conversations c
SET human_reply_needed_since = f.value, updated_at = now()
FROM (
    SELECT t.conversation_id,
           CASE WHEN t.reply_needed_since IS NULL AND NOT s.auto_after THEN NULL
                ELSE LEAST(t.reply_needed_since, s.pending)
           END AS value
    FROM conversations t
    CROSS JOIN LATERAL (
        SELECT min(m.sent_at) FILTER (WHERE m.sender_type = 'CUSTOMER') AS pending,
               coalesce(bool_or(m.sender_type = 'SHOP' AND m.is_auto_reply), false) AS auto_after
        FROM messages m
        -- (sent_at, message_id): messages stamped in the same millisecond keep Mirakl's order.
        WHERE m.conversation_id = t.conversation_id
          AND (m.sent_at, m.message_id) > coalesce(
                (SELECT (h.sent_at, h.message_id) FROM messages h
                 WHERE h.conversation_id = t.conversation_id AND h.sender_type = 'SHOP' AND NOT h.is_auto_reply
                 ORDER BY h.sent_at DESC, h.message_id DESC LIMIT 1),
                ('-infinity'::timestamptz, 0::bigint))
    ) s
    WHERE t.conversation_id = ANY(%(conversation_ids)s)
) f
WHERE c.conversation_id = f.conversation_id
  AND c.human_reply_needed_since IS DISTINCT FROM f.value
RETURNING c.conversation_id
