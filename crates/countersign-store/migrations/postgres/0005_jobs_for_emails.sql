-- One job runner: e-mails are sent by `send_email` jobs (one per outgoing_emails row), so a job no
-- longer always belongs to a signature request.
ALTER TABLE jobs ALTER COLUMN signature_request_id DROP NOT NULL;
ALTER TABLE jobs ADD COLUMN email_id BIGINT;
-- E-mails stored before this migration and not sent yet get their job.
INSERT INTO jobs (id, kind, email_id, state, run_at_ms, created_at_ms)
    SELECT 'email-' || id, 'send_email', id, 'pending', COALESCE(locked_until_ms, created_at_ms), created_at_ms
    FROM outgoing_emails WHERE sent_at_ms IS NULL;
