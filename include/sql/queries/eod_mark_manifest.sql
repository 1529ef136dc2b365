UPDATE manifests
   SET status = %(status)s, pdf_path = coalesce(%(pdf_path)s, pdf_path),
       pdf_sha256 = coalesce(%(pdf_sha256)s, pdf_sha256), error = %(error)s, updated_at = now()
 WHERE id = %(id)s
RETURNING *
