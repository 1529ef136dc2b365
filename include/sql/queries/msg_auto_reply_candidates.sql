-- Conversations Mirakl says still need a shop answer, whose latest message is the customer's and
-- has no ledger row yet (never twice). Only CUSTOMER messages qualify: never the operator's,
-- never our own. The rules (business hours, first contact...) are applied by the operator.
SELECT c.conversation_id, c.mirakl_thread_id, c.order_id, c.customer_id, c.reply_needed_since,
       cu.display_name AS customer_display_name, cu.firstname AS customer_firstname,
       lm.message_id AS customer_message_id, lm.sent_at AS customer_message_at,
       lm.mirakl_message_id AS customer_mirakl_message_id,
       EXISTS (SELECT 1 FROM messages s
               WHERE s.conversation_id = c.conversation_id AND s.sender_type = 'SHOP') AS shop_has_written,
       EXISTS (SELECT 1 FROM messages s
               WHERE s.conversation_id = c.conversation_id AND s.sender_type = 'SHOP' AND s.is_auto_reply
                 AND (s.sent_at, s.message_id) > coalesce(
                     (SELECT (h.sent_at, h.message_id) FROM messages h
                      WHERE h.conversation_id = c.conversation_id AND h.sender_type = 'SHOP' AND NOT h.is_auto_reply
                      ORDER BY h.sent_at DESC, h.message_id DESC LIMIT 1),
                     ('-infinity'::timestamptz, 0::bigint))) AS auto_reply_pending_human
FROM conversations c
CROSS JOIN LATERAL (
    SELECT m.message_id, m.sender_type, m.sent_at, m.mirakl_message_id
    FROM messages m
    WHERE m.conversation_id = c.conversation_id
    ORDER BY m.sent_at DESC, m.message_id DESC
    LIMIT 1
) lm
LEFT JOIN customers cu ON cu.customer_id = c.customer_id
WHERE c.reply_needed_since IS NOT NULL
  AND lm.sender_type = 'CUSTOMER'
  AND NOT EXISTS (SELECT 1 FROM auto_replies a WHERE a.customer_message_id = lm.message_id)
ORDER BY lm.sent_at, c.conversation_id
LIMIT %(limit)s
