-- 003: customer conversations synced from the Mirakl inbox (threads M10/M11), and replies.

CREATE TABLE customers (
    customer_id   text PRIMARY KEY,                       -- Mirakl customer id
    firstname     text,
    lastname      text,
    display_name  text,
    locale        text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE conversations (
    conversation_id     bigserial PRIMARY KEY,
    mirakl_thread_id    text NOT NULL UNIQUE,
    order_id            text,                             -- no FK: a thread may arrive before its order
    customer_id         text REFERENCES customers (customer_id),
    topic               text,
    last_message_at     timestamptz,
    last_sender_type    text,
    reply_needed_since  timestamptz,                      -- Mirakl metadata.shop_reply_needed_since
    raw                 jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX conversations_inbox_idx ON conversations (reply_needed_since NULLS LAST, last_message_at DESC);
CREATE INDEX conversations_last_message_idx ON conversations (last_message_at DESC);
CREATE INDEX conversations_order_idx ON conversations (order_id);

CREATE TABLE messages (
    message_id          bigserial PRIMARY KEY,
    mirakl_message_id   text UNIQUE,
    conversation_id     bigint NOT NULL REFERENCES conversations (conversation_id),
    sender_type         text NOT NULL CHECK (sender_type IN ('CUSTOMER', 'SHOP', 'OPERATOR')),
    sender_name         text,
    body                text NOT NULL,
    sent_at             timestamptz NOT NULL,
    is_auto_reply       boolean NOT NULL DEFAULT false,
    in_reply_to         bigint REFERENCES messages (message_id),
    sent_by             text,                             -- the agent's user name for our replies
    template_name       text,
    raw                 jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX messages_conversation_idx ON messages (conversation_id, sent_at, message_id);
CREATE INDEX messages_sent_at_idx ON messages (sent_at);

-- At most one auto-reply per customer message: the ledger row is written before M12 is called.
CREATE TABLE auto_replies (
    customer_message_id  bigint PRIMARY KEY REFERENCES messages (message_id),
    conversation_id      bigint NOT NULL REFERENCES conversations (conversation_id),
    template_name        text NOT NULL,
    status               text NOT NULL DEFAULT 'intent' CHECK (status IN ('intent', 'sent', 'failed', 'skipped')),
    reply_message_id     bigint REFERENCES messages (message_id),
    error                jsonb,
    run_id               text,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);

-- Reply templates a seller can edit (rows), used by auto-replies and by agents in the inbox.
-- Placeholders: {customer_name} {order_id} {order_status} {tracking_number} {tracking_url}
-- {expected_ship_date} {shop_name}
CREATE TABLE reply_templates (
    name         text PRIMARY KEY,
    title        text NOT NULL,
    body         text NOT NULL,
    auto_reply   boolean NOT NULL DEFAULT false,          -- usable by the auto-reply step
    enabled      boolean NOT NULL DEFAULT true,
    updated_at   timestamptz NOT NULL DEFAULT now()
);
INSERT INTO reply_templates (name, title, body, auto_reply) VALUES
('auto_ack', 'Automatic acknowledgement',
 E'Hello {customer_name},\n\nThank you for your message about order {order_id}. Its current status is: {order_status}. {tracking_sentence}\n\nA member of our team will answer you within one business day.\n\n{shop_name}',
 true),
('where_is_my_order', 'Where is my order',
 E'Hello {customer_name},\n\nYour order {order_id} is {order_status}. {tracking_sentence}\n\nThank you for shopping with us,\n{shop_name}',
 false),
('return_instructions', 'Return instructions',
 E'Hello {customer_name},\n\nWe are sorry the item from order {order_id} did not work out. Please open a return request from your Best Buy account; once it is approved we will send you a prepaid Canada Post return label.\n\n{shop_name}',
 false),
('thanks', 'Thank you',
 E'Hello {customer_name},\n\nThank you for letting us know. Do not hesitate to write again if you need anything else about order {order_id}.\n\n{shop_name}',
 false);
