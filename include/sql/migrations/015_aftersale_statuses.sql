-- 015: after-sale statuses (issue 13), the same as orderflow.lifecycle (tests/test_lifecycle.py).
INSERT INTO order_statuses (status, description) VALUES
    ('canceled_by_seller', 'Canceled by us at Best Buy (OR30): a unit missing or damaged, or the customer asked'),
    ('partially_refunded', 'Shipped; part of it refunded to the customer (OR28)'),
    ('refunded',           'Shipped; everything refunded to the customer (OR28, or Best Buy for an in-store return)'),
    ('returned',           'Shipped; the customer''s return was received (RT25, or in store by Best Buy)');

INSERT INTO status_transitions (from_status, to_status) VALUES
    ('accepted', 'canceled_by_seller'),
    ('label_created', 'canceled_by_seller'),
    ('packed', 'canceled_by_seller'),
    ('label_failed', 'canceled_by_seller'),
    ('tracking_failed', 'canceled_by_seller'),
    ('shipped', 'partially_refunded'),
    ('shipped', 'refunded'),
    ('shipped', 'returned'),
    ('partially_refunded', 'refunded'),
    ('partially_refunded', 'returned'),
    ('returned', 'partially_refunded'),
    ('returned', 'refunded'),
    ('refunded', 'returned');
