-- The next group of a mailing day (N = one more than any group of that day, whatever its status),
-- with the cut-off it must be transmitted by. Callers hold eod_lock_mailing_date.
INSERT INTO shipping_groups (group_id, mailing_date, seq, cutoff_at)
SELECT to_char(%(mailing_date)s::date, 'YYYYMMDD') || '-' || n.seq, %(mailing_date)s, n.seq, %(cutoff_at)s
  FROM (SELECT coalesce(max(seq), 0) + 1 AS seq FROM shipping_groups WHERE mailing_date = %(mailing_date)s) n
ON CONFLICT DO NOTHING
RETURNING group_id
