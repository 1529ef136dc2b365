-- Open incidents (OR11 line state INCIDENT_OPEN, kept by ingest), the oldest first, with the order's
-- newest conversation. Opened: the line's last update at Best Buy when it entered the state
-- (Mirakl gives no opening date; a later update of the line moves it: the clock errs late, never early).
SELECT l.order_id, l.order_line_id, l.title,
       coalesce(l.raw->>'order_line_state_reason_label', l.raw->>'order_line_state_reason_code') AS reason,
       (l.raw->>'last_updated_date')::timestamptz AS opened_at,
       o.current_status,
       (SELECT c.conversation_id FROM conversations c WHERE c.order_id = l.order_id
         ORDER BY c.last_message_at DESC NULLS LAST LIMIT 1) AS conversation_id
  FROM order_lines l
  JOIN orders o ON o.order_id = l.order_id
 WHERE l.state = 'INCIDENT_OPEN'
 ORDER BY opened_at NULLS LAST, l.order_line_id
 LIMIT %(limit)s
