-- 018: agents' replies in the inbox exactly once (issue 12 item 5).
--
-- M12 carries no idempotency key. The protocol (orderflow.replies): the inbox page renders a one-time
-- key into the reply form; the first submit commits this row (the intent, with the exact text)
-- BEFORE Best Buy is called; `attempts`/`last_attempt_at` are raised (and committed) before each M12;
-- a request works on the row only while it holds the lease (`lease_until`), so a second submit, a
-- double click or a concurrent request never calls M12 for the same key at the same time; after any
-- doubt (timeout, dropped answer, 5xx, a worker that died) the thread is read back with M10 and its
-- shop messages matched against `body` before anything is sent again. The typed text stays here
-- until it is sent (the page shows it again).
--
-- status: sending   a request holds the lease (sending, or reading the thread back)
--         unknown   an attempt may have reached Best Buy: read the thread (M10) before any resend
--         not_sent  Best Buy provably did not take it (4xx, 429, connection refused): safe to send again
--         sent      Best Buy has it (`mirakl_message_id`; `message_id` our stored copy)

CREATE TABLE agent_replies (
    reply_key          text PRIMARY KEY CHECK (reply_key ~ '^[A-Za-z0-9_-]{16,64}$'),
    conversation_id    bigint NOT NULL REFERENCES conversations (conversation_id),
    agent              text NOT NULL,                    -- FAB user name
    agent_name         text,
    body               text NOT NULL,
    template_name      text,
    status             text NOT NULL DEFAULT 'sending'
                       CHECK (status IN ('sending', 'unknown', 'not_sent', 'sent')),
    lease_until        timestamptz,                      -- the request working on it, until then
    attempts           integer NOT NULL DEFAULT 0,       -- M12 calls started (committed before each)
    last_attempt_at    timestamptz,
    checked_at         timestamptz,                      -- last M10 read-back
    mirakl_message_id  text UNIQUE,
    message_id         bigint REFERENCES messages (message_id),
    adopted            boolean NOT NULL DEFAULT false,   -- found by the read-back, not by M12's answer
    error              jsonb,                            -- last failure: kind, operation, status, codes, reference
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    sent_at            timestamptz
);
CREATE INDEX agent_replies_open_idx ON agent_replies (conversation_id, created_at) WHERE status <> 'sent';

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'orderflow_grafana') THEN
        GRANT SELECT ON agent_replies TO orderflow_grafana;
    END IF;
END;
$$;
