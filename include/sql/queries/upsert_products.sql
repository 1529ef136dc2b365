INSERT INTO products (sku, name, weight_kg, length_cm, width_cm, height_cm) VALUES %s
ON CONFLICT (sku) DO UPDATE SET name = EXCLUDED.name, weight_kg = EXCLUDED.weight_kg,
    length_cm = EXCLUDED.length_cm, width_cm = EXCLUDED.width_cm, height_cm = EXCLUDED.height_cm,
    updated_at = now()
