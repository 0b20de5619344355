-- The audit trail: one line per event of a request, with the signer it concerns (as they were named
-- then) and the client that caused it (a signer's IP address and user agent), written in the
-- transaction of the change. Kept apart from `events` (the callback outbox) so it outlives delivery.
CREATE TABLE audit_log (
    signature_request_id TEXT NOT NULL REFERENCES signature_requests (id),
    position             BIGINT NOT NULL, -- the event's event_sequence
    event_type           TEXT NOT NULL,
    at_ms                BIGINT NOT NULL,
    signature_id         TEXT,
    signer_name          TEXT,
    signer_email         TEXT,
    ip_address           TEXT,
    user_agent           TEXT,
    PRIMARY KEY (signature_request_id, position)
);

-- The sealed final copy of all documents (each document's own is documents.final_sha256), so a PDF
-- handed to `verify` can be traced back to its request by its digest.
ALTER TABLE signature_requests ADD COLUMN final_sha256 TEXT;
CREATE INDEX signature_requests_by_final ON signature_requests (final_sha256);
CREATE INDEX documents_by_final ON documents (final_sha256);

-- A typed signature's text (the final copy shows it as text, not as the picture).
ALTER TABLE signer_images ADD COLUMN typed_text TEXT;
