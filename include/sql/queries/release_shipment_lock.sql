SELECT pg_advisory_unlock(hashtextextended('orderflow:shipment:' || %(customer_request_id)s, 0)) AS unlocked
