-- What a packer must scan for one order: every line's components (from product_components, matched
-- on our offer SKU), with units expected = line quantity x units per product. A line whose SKU has
-- no components in the catalog comes back once with NULL component columns (it needs an override).
SELECT l.order_line_id,
       l.line_index,
       l.offer_sku,
       l.title,
       l.quantity                AS line_quantity,
       c.id                      AS component_id,
       c.barcode,
       c.name                    AS component_name,
       c.quantity                AS units_per_product,
       l.quantity * c.quantity   AS expected
  FROM order_lines l
  LEFT JOIN product_components c ON c.sku = l.offer_sku
 WHERE l.order_id = %(order_id)s
 ORDER BY l.line_index NULLS LAST, l.order_line_id, c.id
