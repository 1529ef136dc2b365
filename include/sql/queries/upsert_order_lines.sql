INSERT INTO order_lines (
    order_line_id, order_id, line_index, offer_sku, product_sku, title, quantity,
    price_unit, price, shipping_price, total_price, state, raw
) VALUES %s
ON CONFLICT (order_line_id) DO UPDATE SET
    line_index     = EXCLUDED.line_index,
    offer_sku      = EXCLUDED.offer_sku,
    product_sku    = EXCLUDED.product_sku,
    title          = EXCLUDED.title,
    quantity       = EXCLUDED.quantity,
    price_unit     = EXCLUDED.price_unit,
    price          = EXCLUDED.price,
    shipping_price = EXCLUDED.shipping_price,
    total_price    = EXCLUDED.total_price,
    state          = EXCLUDED.state,
    raw            = EXCLUDED.raw
