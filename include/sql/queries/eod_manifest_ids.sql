SELECT manifest_id, group_id FROM manifests WHERE manifest_id = ANY(%(manifest_ids)s)
