-- How many intents of a kind a line has had: the next purpose number (refund#n) a form carries.
SELECT count(*) AS n FROM money_intents WHERE order_line_id = %(order_line_id)s AND kind = %(kind)s
