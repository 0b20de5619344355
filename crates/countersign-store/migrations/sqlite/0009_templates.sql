-- Templates: documents with fields placed per signer role, sent later with template_ids[]. A template
-- is processed in the background like a request (status processing → ready | error, with
-- template_created / template_error committed with the outcome); a deleted one keeps its row (requests
-- sent from it name it) but is gone for every caller.
CREATE TABLE templates (
    id            TEXT PRIMARY KEY,
    account_id    TEXT NOT NULL REFERENCES accounts(id),
    client_id     TEXT,
    is_embedded   INTEGER NOT NULL,
    -- processing | ready | error
    status        TEXT NOT NULL,
    -- what the API shows (title, message, roles, merge fields, metadata; JSON)
    body          TEXT NOT NULL,
    -- what processing needs: form_fields_per_document, text tags, groups (JSON)
    options       TEXT NOT NULL,
    -- the placed fields, signer_index = the role's index in body.signer_roles (JSON), once ready
    fields        TEXT,
    error_message TEXT,
    created_at_ms INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL,
    deleted_at_ms INTEGER
);
CREATE INDEX templates_account ON templates(account_id, created_at_ms DESC, id);

CREATE TABLE template_documents (
    template_id    TEXT NOT NULL REFERENCES templates(id),
    document_index INTEGER NOT NULL,
    file_name      TEXT NOT NULL,
    file_url       TEXT,
    blob_sha256    TEXT REFERENCES blobs(sha256),
    -- [[width, height], …] in points, as displayed, once read
    pages          TEXT,
    PRIMARY KEY (template_id, document_index)
);

-- Accounts of this server a template is shared with (template/add_user); the owner is not listed.
CREATE TABLE template_accounts (
    template_id TEXT NOT NULL REFERENCES templates(id),
    account_id  TEXT NOT NULL REFERENCES accounts(id),
    added_at_ms INTEGER NOT NULL,
    PRIMARY KEY (template_id, account_id)
);
CREATE INDEX template_accounts_account ON template_accounts(account_id);

-- A process_template job works on a template.
ALTER TABLE jobs ADD COLUMN template_id TEXT;
-- Template events name their template (the feed and logs grep for it).
ALTER TABLE events ADD COLUMN template_id TEXT;
