-- OAuth for API apps. A grant is one account's consent to one app (the scopes it had when the account
-- agreed); codes and tokens are issued under a grant and stored only as SHA-256 digests. A family is
-- what one authorization code (or one account/create) started: every token refreshed from it shares
-- the family, so a reused code or refresh token revokes the whole chain.
CREATE TABLE oauth_grants (
    id          TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL REFERENCES accounts (id),
    client_id   TEXT NOT NULL,
    -- JSON list of scope names.
    scopes      TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    revoked_at  BIGINT,
    UNIQUE (account_id, client_id)
);
CREATE INDEX oauth_grants_by_client ON oauth_grants (client_id);
CREATE TABLE oauth_codes (
    code_digest BYTEA PRIMARY KEY,
    grant_id    TEXT NOT NULL REFERENCES oauth_grants (id),
    family_id   TEXT NOT NULL,
    state       TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT
);
CREATE TABLE oauth_tokens (
    id                 TEXT PRIMARY KEY,
    grant_id           TEXT NOT NULL REFERENCES oauth_grants (id),
    family_id          TEXT NOT NULL,
    access_digest      BYTEA NOT NULL UNIQUE,
    refresh_digest     BYTEA NOT NULL UNIQUE,
    created_at         BIGINT NOT NULL,
    access_expires_at  BIGINT NOT NULL,
    refresh_expires_at BIGINT NOT NULL,
    -- Set when the refresh token was exchanged for the next pair (then this pair is revoked too).
    refreshed_at       BIGINT,
    revoked_at         BIGINT
);
CREATE INDEX oauth_tokens_family ON oauth_tokens (family_id);
CREATE INDEX oauth_tokens_grant ON oauth_tokens (grant_id);
-- The app an account was created through (account/create with client credentials): its callback gets
-- account_confirmed when the owner confirms.
ALTER TABLE accounts ADD COLUMN created_by_client_id TEXT;
-- An argon2id PHC string, set by `countersign account password`; what the authorize page logs in with.
ALTER TABLE accounts ADD COLUMN password_hash TEXT;
