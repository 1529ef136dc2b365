-- Groups the close of day still has to transmit or settle, oldest first.
SELECT * FROM shipping_groups
 WHERE mailing_date <= %(through)s AND status = ANY(%(statuses)s)
 ORDER BY mailing_date, seq
