-- The transactional outbox: events, one delivery per (event, callback URL), every attempt, the callback
-- endpoints (one per account and URL, with its Standard Webhooks secret and health), and e-mails to send.
-- Times ending in _ms are unix milliseconds.
CREATE TABLE callback_endpoints (
    id               TEXT PRIMARY KEY,
    account_id       TEXT NOT NULL REFERENCES accounts(id),
    url              TEXT NOT NULL,
    secret_sealed    BYTEA NOT NULL,
    consecutive_dead BIGINT NOT NULL DEFAULT 0,
    disabled_at_ms   BIGINT,
    disabled_reason  TEXT,
    created_at_ms    BIGINT NOT NULL,
    UNIQUE (account_id, url)
);

CREATE TABLE events (
    feed_seq             BIGSERIAL PRIMARY KEY,
    -- The writing transaction's id: the feed orders by it and shows only rows older than every
    -- transaction still running, so a reader's cursor never passes an event that commits later.
    txid                 xid8 NOT NULL DEFAULT pg_current_xact_id(),
    id                   TEXT NOT NULL UNIQUE,
    account_id           TEXT NOT NULL REFERENCES accounts(id),
    event_type           TEXT NOT NULL,
    event_time           BIGINT NOT NULL,
    signature_request_id TEXT,
    event_sequence       BIGINT,
    client_id            TEXT,
    related_signature_id TEXT,
    event_message        TEXT,
    created_at_ms        BIGINT NOT NULL
);
CREATE INDEX events_account_feed ON events(account_id, txid, feed_seq);
CREATE UNIQUE INDEX events_request_sequence ON events(signature_request_id, event_sequence);

CREATE TABLE deliveries (
    id              TEXT PRIMARY KEY,
    event_id        TEXT NOT NULL REFERENCES events(id),
    account_id      TEXT NOT NULL,
    endpoint_id     TEXT NOT NULL REFERENCES callback_endpoints(id),
    target          TEXT NOT NULL,
    client_id       TEXT,
    event_sequence  BIGINT,
    url             TEXT NOT NULL,
    state           TEXT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    round_attempts  BIGINT NOT NULL DEFAULT 0,
    next_attempt_ms BIGINT NOT NULL,
    locked_by       TEXT,
    locked_until_ms BIGINT,
    last_status     BIGINT,
    last_error      TEXT,
    created_at_ms   BIGINT NOT NULL,
    delivered_at_ms BIGINT
);
-- Covers the claim's lease test, so claiming never reads rows it skips.
CREATE INDEX deliveries_due ON deliveries(next_attempt_ms, locked_until_ms) WHERE state = 'pending';
CREATE INDEX deliveries_event ON deliveries(event_id);
CREATE INDEX deliveries_endpoint_state ON deliveries(endpoint_id, state);

-- The frozen request body of a delivery, apart from its state: written once, read at each claim, so
-- the small, often-updated delivery rows stay small.
CREATE TABLE delivery_bodies (
    delivery_id    TEXT PRIMARY KEY REFERENCES deliveries(id),
    payload        TEXT NOT NULL,
    content_md5    TEXT NOT NULL,
    content_sha256 TEXT NOT NULL
);

CREATE TABLE delivery_attempts (
    id               BIGSERIAL PRIMARY KEY,
    delivery_id      TEXT NOT NULL REFERENCES deliveries(id),
    attempt_no       BIGINT NOT NULL,
    started_at_ms    BIGINT NOT NULL,
    latency_ms       BIGINT NOT NULL,
    url              TEXT NOT NULL,
    status_code      BIGINT,
    response_excerpt TEXT,
    error            TEXT,
    outcome          TEXT NOT NULL
);
CREATE INDEX delivery_attempts_delivery ON delivery_attempts(delivery_id, attempt_no);

CREATE TABLE outgoing_emails (
    id            BIGSERIAL PRIMARY KEY,
    account_id    TEXT NOT NULL,
    to_address    TEXT NOT NULL,
    subject       TEXT NOT NULL,
    body          TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    sent_at_ms    BIGINT,
    -- Sending is claimed like a delivery; after a failure it is also when the next try may start.
    locked_until_ms BIGINT,
    attempts      BIGINT NOT NULL DEFAULT 0,
    last_error    TEXT
);
