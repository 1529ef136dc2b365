-- The open group of a mailing day, share-locked: the close of day's UPDATE to 'closed' waits for
-- this transaction, and after it this finds nothing (PostgreSQL re-checks the WHERE on the new row).
SELECT group_id FROM shipping_groups
 WHERE mailing_date = %(mailing_date)s AND status = 'open'
 ORDER BY seq DESC
 LIMIT 1
 FOR SHARE
