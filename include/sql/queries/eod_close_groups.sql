-- The close of day begins: open groups of mailing days up to %(through)s take no new label.
UPDATE shipping_groups
   SET status = 'closed', closed_at = now(), closed_by = %(closed_by)s, updated_at = now()
 WHERE mailing_date <= %(through)s AND status = 'open'
RETURNING *
