-- Is a scanned code in the catalog at all (for "wrong item" versus "unknown code")?
SELECT c.sku, c.name FROM product_components c WHERE c.barcode = %(barcode)s LIMIT 1
