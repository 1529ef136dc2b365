UPDATE manifests SET printed_at = now(), printed_by = %(printed_by)s, updated_at = now()
 WHERE id = %(id)s AND status = 'stored'
RETURNING *
