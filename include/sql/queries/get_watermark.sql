SELECT value FROM sync_watermarks WHERE name = %(name)s
