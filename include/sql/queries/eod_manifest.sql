SELECT * FROM manifests WHERE id = %(id)s
