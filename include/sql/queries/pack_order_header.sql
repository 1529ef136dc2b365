-- One order as the packing station shows it: the customer's name and city only (never the address).
SELECT o.order_id,
       o.commercial_id,
       o.current_status,
       o.current_status_at,
       o.shipping_deadline,
       o.customer_firstname,
       o.customer_lastname,
       o.shipping_city,
       o.shipping_province
  FROM orders o
 WHERE o.order_id = %(order_id)s
