-- Webhooks: where the host wants to hear about its accounts, and a durable outbox of what
-- happened. An event is written in the same transaction as the change that caused it, with one
-- delivery row per endpoint that wants it; a background worker sends the deliveries and retries
-- them for about three days. Every field of an event is a column of its own: the body sent is
-- made from them, the same bytes on every attempt.

-- A key may now manage webhook endpoints.
ALTER TABLE api_keys ADD COLUMN manage_webhooks INTEGER NOT NULL DEFAULT 0
    CHECK (manage_webhooks IN (0, 1));
DROP TRIGGER api_keys_changed;
CREATE TRIGGER api_keys_changed AFTER UPDATE OF revoked_at, organisation_id, read_accounts,
    write_accounts, issue_tokens, manage_webhooks ON api_keys
BEGIN UPDATE revision SET n = n + 1 WHERE id = 1; END;

CREATE TABLE webhook_endpoints (
    id               TEXT    PRIMARY KEY NOT NULL,
    url              TEXT    NOT NULL,
    description      TEXT    NOT NULL DEFAULT '',
    -- NULL: every organisation's events.
    organisation_id  TEXT    REFERENCES organisations (id),
    -- 1: every event type, also those added later; 0: those in webhook_endpoint_events.
    all_events       INTEGER NOT NULL CHECK (all_events IN (0, 1)),
    enabled          INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    -- Why Mailkey turned it off by itself ('gone': the receiver answered 410).
    disabled_reason  TEXT    CHECK (disabled_reason IN ('gone')),
    -- The whsec_ signing secret, sealed with the master key.
    sealed_secret    BLOB    NOT NULL,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);

CREATE TABLE webhook_endpoint_events (
    endpoint_id  TEXT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_type   TEXT NOT NULL,
    PRIMARY KEY (endpoint_id, event_type)
);

CREATE TABLE webhook_events (
    -- The webhook-id header: the same on every attempt and redelivery (receivers dedupe on it).
    id                        TEXT    PRIMARY KEY NOT NULL,
    event_type                TEXT    NOT NULL,
    occurred_at               INTEGER NOT NULL,
    -- Copied, not referenced: the event outlives a deleted account or organisation.
    organisation_id           TEXT,
    organisation_external_id  TEXT,
    account_id                TEXT,
    account_external_id       TEXT,
    account_name              TEXT,
    mailbox                   TEXT,
    -- needs_reconnect: a stable code and words; connection_test_failed: the diagnosis code.
    reason_code               TEXT,
    reason                    TEXT,
    -- secret expiry notices.
    expires_on                TEXT,
    days_left                 INTEGER
);

CREATE TABLE webhook_deliveries (
    id               INTEGER PRIMARY KEY,
    event_id         TEXT    NOT NULL REFERENCES webhook_events (id) ON DELETE CASCADE,
    endpoint_id      TEXT    NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    state            TEXT    NOT NULL CHECK (state IN ('pending', 'delivered', 'failed', 'skipped')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL,
    -- Taken by a worker until then: a worker that died lets go by itself.
    locked_until     INTEGER,
    last_attempt_at  INTEGER,
    last_status      INTEGER,
    last_error       TEXT,
    delivered_at     INTEGER,
    created_at       INTEGER NOT NULL
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_attempt_at);
CREATE INDEX webhook_deliveries_of_endpoint ON webhook_deliveries (endpoint_id, created_at);

-- Which expiry notices went out, so each threshold is sent once per expiry date.
CREATE TABLE expiry_notices (
    -- 'account' (its own app's secret) or 'operator_app'.
    subject_kind  TEXT    NOT NULL CHECK (subject_kind IN ('account', 'operator_app')),
    subject_id    TEXT    NOT NULL,
    expires_on    TEXT    NOT NULL,
    threshold     INTEGER NOT NULL,
    sent_at       INTEGER NOT NULL,
    PRIMARY KEY (subject_kind, subject_id, expires_on, threshold)
);
