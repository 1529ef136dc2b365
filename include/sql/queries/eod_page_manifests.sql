SELECT id, manifest_id, group_id, po_number, manifest_date, shipment_count, total_due, status, pdf_path,
       pdf_sha256, found_by, printed_at, printed_by, created_at
  FROM manifests
 WHERE group_id = ANY(%(group_ids)s)
 ORDER BY id
