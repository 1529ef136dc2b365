-- Watermarks only move forward.
INSERT INTO sync_watermarks (name, value) VALUES (%(name)s, %(value)s)
ON CONFLICT (name) DO UPDATE SET value = GREATEST(sync_watermarks.value, EXCLUDED.value), updated_at = now()
