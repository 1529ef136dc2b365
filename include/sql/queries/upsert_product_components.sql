INSERT INTO product_components (sku, barcode, name, quantity) VALUES %s
ON CONFLICT (sku, barcode) DO UPDATE SET name = EXCLUDED.name, quantity = EXCLUDED.quantity
