-- Customers seen as thread participants (execute_values; one row per customer_id per batch).
-- An unchanged row is not rewritten: a re-sync writes nothing.
INSERT INTO customers (customer_id, display_name)
VALUES %s
ON CONFLICT (customer_id) DO UPDATE
    SET display_name = COALESCE(EXCLUDED.display_name, customers.display_name), updated_at = now()
    WHERE EXCLUDED.display_name IS NOT NULL
      AND customers.display_name IS DISTINCT FROM EXCLUDED.display_name
RETURNING customer_id
