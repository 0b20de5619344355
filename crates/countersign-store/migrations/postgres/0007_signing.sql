-- Signing: a field's settings for the signer page (dropdown options, group, date format, …, as JSON), and
-- the signature images signers made, kept as blobs for the final copy.
ALTER TABLE fields ADD COLUMN options TEXT;

CREATE TABLE signer_images (
    signature_request_id TEXT NOT NULL REFERENCES signature_requests (id),
    signature_id         TEXT NOT NULL,
    api_id               TEXT NOT NULL,
    blob_sha256          TEXT NOT NULL REFERENCES blobs (sha256),
    created_at_ms        BIGINT NOT NULL,
    PRIMARY KEY (signature_id, api_id)
);
CREATE INDEX signer_images_by_request ON signer_images (signature_request_id);

-- E-mails to signers name their request and signature, so a bounce is reported for that signer.
ALTER TABLE outgoing_emails ADD COLUMN signature_request_id TEXT;
ALTER TABLE outgoing_emails ADD COLUMN signature_id TEXT;

-- The document with the signers' values stamped (served by `files` once the request is complete).
ALTER TABLE documents ADD COLUMN final_sha256 TEXT;
