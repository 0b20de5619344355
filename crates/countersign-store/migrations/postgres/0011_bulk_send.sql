-- Bulk send: one job per call to bulk_send_with_template / bulk_create_embedded_with_template, one row per
-- signer-list entry. A `bulk_send` job turns the rows into signature requests in batches (each batch one
-- transaction, so a node that dies mid-job resumes at the first row without a result); a row that cannot
-- become a request keeps its error and the others go on.
CREATE TABLE bulk_send_jobs (
    id            TEXT PRIMARY KEY,
    account_id    TEXT NOT NULL REFERENCES accounts (id),
    created_at    BIGINT NOT NULL,
    total         BIGINT NOT NULL,
    is_embedded   BOOLEAN NOT NULL DEFAULT FALSE,
    -- What every row shares: the templates, CCs, texts, options (JSON).
    spec          TEXT NOT NULL
);
CREATE INDEX bulk_send_jobs_by_account ON bulk_send_jobs (account_id, created_at);
CREATE TABLE bulk_send_rows (
    bulk_send_job_id     TEXT NOT NULL REFERENCES bulk_send_jobs (id),
    row_index            BIGINT NOT NULL,
    -- The row's signers and custom-field values (JSON).
    input                TEXT NOT NULL,
    signature_request_id TEXT,
    error                TEXT,
    PRIMARY KEY (bulk_send_job_id, row_index)
);
ALTER TABLE jobs ADD COLUMN bulk_send_job_id TEXT;
