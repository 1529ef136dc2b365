-- A group's outcome: transmitted (answered or read back), empty, back to closed (refused), or a doubt.
UPDATE shipping_groups
   SET status = %(status)s,
       transmitted_at = CASE WHEN %(status)s = 'transmitted' THEN coalesce(transmitted_at, now()) END,
       doubt = %(doubt)s, detail = coalesce(%(detail)s, detail), updated_at = now()
 WHERE group_id = %(group_id)s AND status = ANY(%(from_statuses)s)
RETURNING *
