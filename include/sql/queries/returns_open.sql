-- Returns not closed yet, the oldest first (the Receiver's list).
SELECT r.return_id, r.order_id, r.commercial_id, r.state, r.method_code, r.rma, r.tracking_pin,
       r.mirakl_created_at, r.received_at, r.judged_at, o.current_status AS order_status
  FROM returns r LEFT JOIN orders o ON o.order_id = r.order_id
 WHERE r.closed_at IS NULL AND r.state <> ALL(%(over)s)
 ORDER BY r.mirakl_created_at NULLS LAST, r.return_id
 LIMIT %(limit)s
