SELECT current_status AS status, count(*) AS orders FROM orders GROUP BY current_status ORDER BY current_status
