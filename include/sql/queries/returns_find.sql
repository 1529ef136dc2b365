-- A scan at the Returns page: return id, RMA, return tracking PIN, order id or commercial id; newest first.
SELECT return_id FROM returns
 WHERE return_id = %(code)s OR rma = %(code)s OR tracking_pin = %(code)s OR order_id = %(code)s
    OR commercial_id = %(code)s
 ORDER BY mirakl_created_at DESC NULLS LAST
 LIMIT 1
