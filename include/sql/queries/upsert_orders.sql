-- Batch upsert of orders from Mirakl OR11 payloads (psycopg2 execute_values fills VALUES).
-- The status columns are never touched here: only history inserts move them.
INSERT INTO orders (
    order_id, commercial_id, mirakl_state, created_date, last_updated_date, acceptance_deadline,
    shipping_deadline, leadtime_to_ship, customer_id, customer_firstname, customer_lastname,
    shipping_address, shipping_city, shipping_province, shipping_postal_code, shipping_country,
    price, shipping_price, total_price, currency, raw
) VALUES %s
ON CONFLICT (order_id) DO UPDATE SET
    commercial_id        = EXCLUDED.commercial_id,
    mirakl_state         = EXCLUDED.mirakl_state,
    last_updated_date    = EXCLUDED.last_updated_date,
    shipping_deadline    = EXCLUDED.shipping_deadline,
    leadtime_to_ship     = EXCLUDED.leadtime_to_ship,
    customer_id          = EXCLUDED.customer_id,
    customer_firstname   = EXCLUDED.customer_firstname,
    customer_lastname    = EXCLUDED.customer_lastname,
    -- Best Buy hides the address again after some states: never forget one we were given.
    shipping_address     = COALESCE(EXCLUDED.shipping_address, orders.shipping_address),
    shipping_city        = COALESCE(EXCLUDED.shipping_city, orders.shipping_city),
    shipping_province    = COALESCE(EXCLUDED.shipping_province, orders.shipping_province),
    shipping_postal_code = COALESCE(EXCLUDED.shipping_postal_code, orders.shipping_postal_code),
    shipping_country     = COALESCE(EXCLUDED.shipping_country, orders.shipping_country),
    price                = EXCLUDED.price,
    shipping_price       = EXCLUDED.shipping_price,
    total_price          = EXCLUDED.total_price,
    currency             = EXCLUDED.currency,
    raw                  = EXCLUDED.raw,
    updated_at           = now()
RETURNING order_id, (xmax = 0) AS inserted, current_status, mirakl_state
