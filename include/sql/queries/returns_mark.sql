-- One of our steps on a return (received / judged / closed), with who and Best Buy's state after it.
UPDATE returns
   SET state = COALESCE(%(state)s, state), raw = COALESCE(%(raw)s, raw),
       return_lines = COALESCE(%(return_lines)s, return_lines),
       received_by = CASE WHEN %(step)s = 'received' THEN %(who)s ELSE received_by END,
       received_at = CASE WHEN %(step)s = 'received' THEN COALESCE(received_at, now()) ELSE received_at END,
       judged_by = CASE WHEN %(step)s = 'judged' THEN %(who)s ELSE judged_by END,
       judged_at = CASE WHEN %(step)s = 'judged' THEN COALESCE(judged_at, now()) ELSE judged_at END,
       closed_by = CASE WHEN %(step)s = 'closed' THEN %(who)s ELSE closed_by END,
       closed_at = CASE WHEN %(step)s = 'closed' THEN COALESCE(closed_at, now()) ELSE closed_at END,
       synced_at = now()
 WHERE return_id = %(return_id)s
RETURNING *
