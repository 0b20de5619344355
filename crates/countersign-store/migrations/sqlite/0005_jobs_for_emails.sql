-- One job runner: e-mails are sent by `send_email` jobs (one per outgoing_emails row), so a job no
-- longer always belongs to a signature request. SQLite cannot drop NOT NULL in place: the table is
-- rebuilt with the same rows.
CREATE TABLE jobs_new (
    id                   TEXT PRIMARY KEY,
    kind                 TEXT NOT NULL,
    signature_request_id TEXT REFERENCES signature_requests(id),
    -- pending | done
    state                TEXT NOT NULL,
    run_at_ms            INTEGER NOT NULL,
    attempts             INTEGER NOT NULL DEFAULT 0,
    locked_by            TEXT,
    locked_until_ms      INTEGER,
    last_error           TEXT,
    created_at_ms        INTEGER NOT NULL,
    finished_at_ms       INTEGER,
    email_id             BIGINT
);
INSERT INTO jobs_new (id, kind, signature_request_id, state, run_at_ms, attempts, locked_by, locked_until_ms,
                      last_error, created_at_ms, finished_at_ms)
    SELECT id, kind, signature_request_id, state, run_at_ms, attempts, locked_by, locked_until_ms, last_error,
           created_at_ms, finished_at_ms FROM jobs;
DROP TABLE jobs;
ALTER TABLE jobs_new RENAME TO jobs;
CREATE INDEX jobs_due ON jobs(state, run_at_ms);
CREATE INDEX jobs_request ON jobs(signature_request_id, kind);
-- E-mails stored before this migration and not sent yet get their job.
INSERT INTO jobs (id, kind, email_id, state, run_at_ms, created_at_ms)
    SELECT 'email-' || id, 'send_email', id, 'pending', COALESCE(locked_until_ms, created_at_ms), created_at_ms
    FROM outgoing_emails WHERE sent_at_ms IS NULL;
