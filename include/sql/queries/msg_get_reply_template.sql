SELECT name, title, body, auto_reply, enabled FROM reply_templates WHERE name = %(name)s
