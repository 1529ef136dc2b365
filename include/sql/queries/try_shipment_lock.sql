-- Session-level advisory lock on one customer_request_id: held for the Canada Post calls of one
-- package, released by unlock or when the session ends (a killed worker's connection closes).
SELECT pg_try_advisory_lock(hashtextextended('orderflow:shipment:' || %(customer_request_id)s, 0)) AS locked
