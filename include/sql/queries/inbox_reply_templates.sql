SELECT name, title, body FROM reply_templates WHERE enabled ORDER BY title, name
