-- Orders of the list that another owner is working on right now (an unexpired claim).
SELECT order_id, step, claimed_by
  FROM order_claims
 WHERE order_id = ANY(%(order_ids)s)
   AND claimed_by <> %(owner)s
   AND expires_at > now()
