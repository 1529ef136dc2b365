-- 013: Canada Post end of day: daily groups, transmits and manifests (issue 14).
--
-- Contract labels go into the group of their mailing day (orderflow.mailing_day: the cut-off in the
-- seller's time zone). A group is `open` (takes labels) until the close of day `closed` it (no new
-- label joins; in-flight creates finish), then `transmitting`: the transmit intent, committed BEFORE
-- Transmit Shipments is called. After any doubt the manifests of those dates are read back (Get
-- Manifests by date) before anything is transmitted again; a group found in a manifest, or answered,
-- is `transmitted` (never sent twice). `empty`: nothing live was left in it, nothing was sent.
-- Statuses: orderflow.lifecycle.GroupStatus (tests/test_lifecycle.py keeps the check equal to it).
CREATE TABLE shipping_groups (
    group_id              text PRIMARY KEY,                -- Canada Post group id: YYYYMMDD-N
    mailing_date          date NOT NULL,
    seq                   integer NOT NULL CHECK (seq >= 1),
    status                text NOT NULL DEFAULT 'open'
                          CHECK (status IN ('open', 'closed', 'transmitting', 'transmitted', 'empty')),
    closed_at             timestamptz,
    transmit_requested_at timestamptz,                     -- the intent (first attempt)
    transmit_attempts     integer NOT NULL DEFAULT 0,
    last_attempt_at       timestamptz,
    transmitted_at        timestamptz,
    closed_by             text,                            -- run id or the supervisor
    doubt                 jsonb,                           -- why the last transmit's outcome is unknown
    detail                jsonb,                           -- how it was settled (answered / read back)
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    UNIQUE (mailing_date, seq)
);
CREATE INDEX shipping_groups_unsettled_idx ON shipping_groups (mailing_date)
 WHERE status IN ('open', 'closed', 'transmitting');

-- One row per Canada Post manifest; its PDF is stored beside the labels with its sha256.
CREATE TABLE manifests (
    id                bigserial PRIMARY KEY,
    manifest_id       text NOT NULL UNIQUE,                -- last segment of its self link
    group_id          text REFERENCES shipping_groups (group_id),
    po_number         text,
    links             jsonb NOT NULL DEFAULT '{}'::jsonb,
    manifest_date     date,
    customer_ref      text,
    total_due         numeric(12, 2),
    shipment_count    integer,
    status            text NOT NULL DEFAULT 'listed' CHECK (status IN ('listed', 'stored', 'invalid')),
    pdf_path          text,
    pdf_sha256        text,
    error             jsonb,
    found_by          text NOT NULL,                       -- 'transmit answer' | 'read back by date'
    printed_at        timestamptz,
    printed_by        text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX manifests_group_idx ON manifests (group_id);

-- Which manifest holds each shipment (a label is in one manifest at most).
ALTER TABLE shipments ADD COLUMN manifest_row_id bigint REFERENCES manifests (id);
CREATE INDEX shipments_group_idx ON shipments (group_id) WHERE group_id IS NOT NULL;
