-- Commit a refund/cancel intent (idempotent on intent_id: the same form posted twice is one intent).
-- `inserted` is true only for the call that created the row.
INSERT INTO money_intents (intent_id, kind, order_id, order_line_id, purpose, amount, shipping_amount, quantity,
                           taxes, reason_code, known_ids, return_id, requested_by, note)
VALUES (%(intent_id)s, %(kind)s, %(order_id)s, %(order_line_id)s, %(purpose)s, %(amount)s, %(shipping_amount)s,
        %(quantity)s, %(taxes)s, %(reason_code)s, %(known_ids)s, %(return_id)s, %(requested_by)s, %(note)s)
ON CONFLICT (intent_id) DO NOTHING
RETURNING *, true AS inserted
