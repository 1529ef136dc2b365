SELECT * FROM shipping_groups WHERE group_id = %(group_id)s
