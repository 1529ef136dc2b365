-- 007: getting the money back for the labels of orders Best Buy canceled after we bought them.
--
-- The shipping step's void_canceled_labels task voids such a label at Canada Post ('voided', with
-- voided_at) or, when Canada Post only refunds it (transmitted, or non-contract), requests a refund
-- ('refund_requested', with the service ticket in refund_ticket_id). The order's own history stays
-- untouched ('canceled' is final): the audit of what was done lives here, in void_detail; a
-- permanent failure of that task is kept in `error` (with its run id) until a person clears the task.
ALTER TABLE shipments DROP CONSTRAINT shipments_status_check;
ALTER TABLE shipments ADD CONSTRAINT shipments_status_check
    CHECK (status IN ('intent', 'created', 'label_stored', 'failed', 'voided', 'refund_requested'));
ALTER TABLE shipments ADD COLUMN refund_requested_at timestamptz;
ALTER TABLE shipments ADD COLUMN void_detail jsonb;
