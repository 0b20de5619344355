-- Dashboard sign-ins. A session is a random token kept only as its SHA-256 digest, bound to one account,
-- with the token every form of that session must carry (CSRF); it ends at sign-out or expiry.
CREATE TABLE web_sessions (
    token_digest BYTEA PRIMARY KEY,
    account_id   TEXT NOT NULL REFERENCES accounts (id),
    csrf_token   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);
CREATE INDEX web_sessions_account ON web_sessions (account_id);
CREATE INDEX web_sessions_expiry ON web_sessions (expires_at);
