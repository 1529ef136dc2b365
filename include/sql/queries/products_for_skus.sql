SELECT * FROM products WHERE sku = ANY(%(skus)s)
