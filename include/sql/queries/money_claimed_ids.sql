-- Refund/cancelation ids of a line that our intents already account for (never matched twice).
SELECT mirakl_id FROM money_intents
 WHERE order_line_id = %(order_line_id)s AND mirakl_id IS NOT NULL AND intent_id <> %(intent_id)s
