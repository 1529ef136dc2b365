SELECT count(*)                                          AS all_conversations,
       count(*) FILTER (WHERE human_reply_needed_since IS NOT NULL) AS needs_reply
  FROM conversations
