-- RT11 rows (execute_values). What Best Buy says wins for its fields; ours (who received, judged,
-- closed) are kept. Unchanged rows are not rewritten.
INSERT INTO returns (return_id, order_id, commercial_id, state, method_code, rma, tracking_pin, reason_code,
                     return_lines, raw, mirakl_created_at, mirakl_updated_at)
VALUES %s
ON CONFLICT (return_id) DO UPDATE
   SET state = EXCLUDED.state, method_code = EXCLUDED.method_code, rma = EXCLUDED.rma,
       tracking_pin = EXCLUDED.tracking_pin, reason_code = EXCLUDED.reason_code,
       return_lines = EXCLUDED.return_lines, raw = EXCLUDED.raw, mirakl_updated_at = EXCLUDED.mirakl_updated_at,
       synced_at = now()
 WHERE returns.raw IS DISTINCT FROM EXCLUDED.raw
RETURNING return_id, order_id, state, method_code, (xmax = 0) AS inserted
