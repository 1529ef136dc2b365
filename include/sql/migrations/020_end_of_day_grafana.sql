-- 020: the end of day in Grafana (issue 14): each group keeps the cut-off it must be transmitted by
-- (computed by orderflow.mailing_day from the seller's settings when the group opens), so the
-- "groups left untransmitted past the cut-off" alert needs no copy of the settings in SQL; and the
-- read-only Grafana role reads the groups and manifests (parcels per manifest).
ALTER TABLE shipping_groups ADD COLUMN cutoff_at timestamptz;
UPDATE shipping_groups
   SET cutoff_at = (mailing_date + time '16:00') AT TIME ZONE 'America/Toronto'  -- the default cut-off
 WHERE cutoff_at IS NULL;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'orderflow_grafana') THEN
        GRANT SELECT ON shipping_groups, manifests TO orderflow_grafana;
    END IF;
END
$$;
