SELECT r.*, o.current_status AS order_status
  FROM returns r LEFT JOIN orders o ON o.order_id = r.order_id
 WHERE r.return_id = %(return_id)s
