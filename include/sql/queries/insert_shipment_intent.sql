-- Step 1 of the exactly-once label protocol. Idempotent: a second call returns the existing row.
-- create_doubt_at = now(): the create POST follows at once, so from here on a killed worker may have
-- left a shipment at Canada Post (migration 016).
WITH inserted AS (
    INSERT INTO shipments (order_id, package_no, customer_request_id, transport, service_code,
                           group_id, weight_kg, dimensions_cm, create_doubt_at)
    VALUES (%(order_id)s, %(package_no)s, %(customer_request_id)s, %(transport)s, %(service_code)s,
            %(group_id)s, %(weight_kg)s, %(dimensions_cm)s, now())
    ON CONFLICT (customer_request_id) DO NOTHING
    RETURNING *
)
SELECT *, true AS inserted FROM inserted
UNION ALL
SELECT *, false AS inserted FROM shipments WHERE customer_request_id = %(customer_request_id)s
 AND NOT EXISTS (SELECT 1 FROM inserted)
