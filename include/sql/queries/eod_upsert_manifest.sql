-- A manifest Canada Post made (from the transmit's answer or read back by date); idempotent.
INSERT INTO manifests (manifest_id, group_id, po_number, links, manifest_date, customer_ref, total_due,
                       shipment_count, found_by)
VALUES (%(manifest_id)s, %(group_id)s, %(po_number)s, %(links)s, %(manifest_date)s, %(customer_ref)s,
        %(total_due)s, %(shipment_count)s, %(found_by)s)
ON CONFLICT (manifest_id) DO UPDATE
   SET group_id = coalesce(manifests.group_id, EXCLUDED.group_id), po_number = EXCLUDED.po_number,
       links = EXCLUDED.links, manifest_date = EXCLUDED.manifest_date, customer_ref = EXCLUDED.customer_ref,
       total_due = EXCLUDED.total_due, shipment_count = EXCLUDED.shipment_count, updated_at = now()
RETURNING *
