-- The inbox list: conversations needing a reply first (longest waiting first), then the rest by
-- their latest message. "Needing a reply" is human_reply_needed_since (migration 006: an
-- auto-reply does not stop that clock, only an agent's answer does). %(needs_reply_only)s narrows to those waiting for us; %(order_id)s (NULL =
-- any) to one order's conversations. The last message comes from a lateral index lookup.
SELECT c.conversation_id,
       c.mirakl_thread_id,
       c.order_id,
       c.topic,
       c.last_message_at,
       c.last_sender_type,
       c.human_reply_needed_since AS needs_reply_since,
       cu.customer_id,
       coalesce(nullif(cu.display_name, ''), nullif(concat_ws(' ', cu.firstname, cu.lastname), '')) AS customer_name,
       m.body          AS last_body,
       m.sender_type   AS last_message_sender_type,
       m.is_auto_reply AS last_is_auto_reply,
       m.sent_at       AS last_message_sent_at
  FROM conversations c
  LEFT JOIN customers cu ON cu.customer_id = c.customer_id
  LEFT JOIN LATERAL (
        SELECT body, sender_type, is_auto_reply, sent_at
          FROM messages
         WHERE conversation_id = c.conversation_id
         ORDER BY sent_at DESC, message_id DESC
         LIMIT 1
  ) m ON true
 WHERE (NOT %(needs_reply_only)s OR c.human_reply_needed_since IS NOT NULL)
   AND (%(order_id)s::text IS NULL OR c.order_id = %(order_id)s)
 ORDER BY c.human_reply_needed_since ASC NULLS LAST, c.last_message_at DESC NULLS LAST, c.conversation_id DESC
 LIMIT %(limit)s
