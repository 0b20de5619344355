-- Accounts, their API keys and their API apps. Times are unix seconds; secrets are sealed (AES-GCM).
CREATE TABLE accounts (
    id           TEXT PRIMARY KEY,
    email        TEXT NOT NULL,
    email_lower  TEXT NOT NULL UNIQUE,
    callback_url TEXT,
    locale       TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);

CREATE TABLE api_keys (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id  TEXT NOT NULL REFERENCES accounts(id),
    key_digest  BLOB NOT NULL UNIQUE,
    key_sealed  BLOB NOT NULL,
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);
CREATE INDEX api_keys_account ON api_keys(account_id);

CREATE TABLE api_apps (
    client_id             TEXT PRIMARY KEY,
    account_id            TEXT NOT NULL REFERENCES accounts(id),
    name                  TEXT NOT NULL,
    domains               TEXT NOT NULL,
    callback_url          TEXT,
    oauth_callback_url    TEXT,
    oauth_scopes          TEXT,
    oauth_secret_sealed   BLOB,
    oauth_charges_users   BOOLEAN NOT NULL DEFAULT FALSE,
    can_insert_everywhere BOOLEAN NOT NULL DEFAULT FALSE,
    white_labeling        TEXT,
    created_at            BIGINT NOT NULL
);
CREATE INDEX api_apps_account ON api_apps(account_id, created_at);
