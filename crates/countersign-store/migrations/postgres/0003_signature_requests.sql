-- Signature requests, their signers, documents and fields, the document bytes, the background jobs that
-- process them (claimed with a lease, like deliveries), and nothing else. Times ending in _ms are unix
-- milliseconds; created_at / expires_at are unix seconds as the API shows them.
CREATE TABLE blobs (
    sha256        TEXT PRIMARY KEY,
    bytes         BYTEA NOT NULL,
    size          BIGINT NOT NULL,
    created_at_ms BIGINT NOT NULL
);

CREATE TABLE signature_requests (
    id               TEXT PRIMARY KEY,
    account_id       TEXT NOT NULL REFERENCES accounts(id),
    client_id        TEXT,
    is_embedded      BOOLEAN NOT NULL,
    -- processing | sent | error | canceled | expired | complete | declined
    status           TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    created_at_ms    BIGINT NOT NULL,
    expires_at       BIGINT,
    removed          BOOLEAN NOT NULL DEFAULT FALSE,
    -- the SignatureRequestResponse object as the API shows it now (JSON)
    body             TEXT NOT NULL,
    -- what processing needs and the API does not show: tag and field options (JSON)
    options          TEXT NOT NULL,
    updated_at_ms    BIGINT NOT NULL
);
CREATE INDEX signature_requests_account ON signature_requests(account_id, created_at_ms DESC, id);

CREATE TABLE signers (
    signature_id         TEXT PRIMARY KEY,
    signature_request_id TEXT NOT NULL REFERENCES signature_requests(id),
    signer_index         BIGINT NOT NULL,
    email_address        TEXT NOT NULL,
    name                 TEXT NOT NULL,
    replaced             BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX signers_request ON signers(signature_request_id);

CREATE TABLE documents (
    signature_request_id TEXT NOT NULL REFERENCES signature_requests(id),
    document_index       BIGINT NOT NULL,
    file_name            TEXT NOT NULL,
    file_url             TEXT,
    -- the document as it is now (with an appended signature page, later the final copy) …
    blob_sha256          TEXT REFERENCES blobs(sha256),
    -- … and as it was uploaded or fetched (its SHA-256 goes into the audit trail)
    original_sha256      TEXT,
    page_count           BIGINT,
    -- [[width, height], …] in points, as displayed
    pages                TEXT,
    PRIMARY KEY (signature_request_id, document_index)
);

CREATE TABLE fields (
    signature_request_id TEXT NOT NULL REFERENCES signature_requests(id),
    field_index          BIGINT NOT NULL,
    document_index       BIGINT NOT NULL,
    api_id               TEXT NOT NULL,
    name                 TEXT NOT NULL,
    field_type           TEXT NOT NULL,
    -- 0-based signer index; NULL for the sender (merge fields)
    signer_index         BIGINT,
    required             BOOLEAN NOT NULL,
    page                 BIGINT NOT NULL,
    x                    DOUBLE PRECISION NOT NULL,
    y                    DOUBLE PRECISION NOT NULL,
    width                DOUBLE PRECISION NOT NULL,
    height               DOUBLE PRECISION NOT NULL,
    validation_type      TEXT,
    auto_fill            TEXT,
    source               TEXT NOT NULL,
    value                TEXT,
    PRIMARY KEY (signature_request_id, field_index)
);

CREATE TABLE jobs (
    id                   TEXT PRIMARY KEY,
    kind                 TEXT NOT NULL,
    signature_request_id TEXT NOT NULL REFERENCES signature_requests(id),
    -- pending | done
    state                TEXT NOT NULL,
    run_at_ms            BIGINT NOT NULL,
    attempts             BIGINT NOT NULL DEFAULT 0,
    locked_by            TEXT,
    locked_until_ms      BIGINT,
    last_error           TEXT,
    created_at_ms        BIGINT NOT NULL,
    finished_at_ms       BIGINT
);
CREATE INDEX jobs_due ON jobs(state, run_at_ms);
CREATE INDEX jobs_request ON jobs(signature_request_id, kind);
