-- Accounts made through POST /v3/account/create stay unconfirmed (and keyless) until their owner
-- confirms by e-mail or the operator claims the address with `countersign account create`; a deleted
-- account keeps its rows (signature requests and events are evidence) but frees its address.
ALTER TABLE accounts ADD COLUMN confirmed BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE accounts ADD COLUMN created_by TEXT;
ALTER TABLE accounts ADD COLUMN deleted_at BIGINT;
