-- Scans of one order serialise on its open session row, so two stations (or a double-posted batch)
-- never count one unit twice.
SELECT * FROM pack_sessions WHERE order_id = %(order_id)s AND status = 'open' FOR UPDATE
