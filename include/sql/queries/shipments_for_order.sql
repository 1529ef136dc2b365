SELECT * FROM shipments WHERE order_id = %(order_id)s ORDER BY package_no
