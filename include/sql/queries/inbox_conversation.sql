SELECT c.*,
       c.human_reply_needed_since AS needs_reply_since,
       cu.firstname AS customer_firstname,
       cu.lastname  AS customer_lastname,
       coalesce(nullif(cu.display_name, ''), nullif(concat_ws(' ', cu.firstname, cu.lastname), '')) AS customer_name
  FROM conversations c
  LEFT JOIN customers cu ON cu.customer_id = c.customer_id
 WHERE c.conversation_id = %(conversation_id)s
