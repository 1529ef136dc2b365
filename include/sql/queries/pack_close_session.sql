UPDATE pack_sessions
   SET status = 'packed', completed_at = now(), override_reason = %(override_reason)s,
       override_by = %(override_by)s
 WHERE id = %(session_id)s AND status = 'open'
RETURNING *
