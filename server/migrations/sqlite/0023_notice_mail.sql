-- Notice e-mails: where an organisation wants to hear that a mailbox is about to stop working
-- (a client secret expiring, a sign-in Microsoft refused), and the outbox of those messages,
-- sent through one of the deployment's own connected mailboxes.
ALTER TABLE organisations ADD COLUMN notice_email TEXT;

-- The one mailbox notices are sent from (none: notices are not e-mailed).
CREATE TABLE notice_settings (
    id                 INTEGER PRIMARY KEY CHECK (id = 1),
    sender_account_id  TEXT    REFERENCES accounts (id) ON DELETE SET NULL,
    updated_at         INTEGER NOT NULL
);

CREATE TABLE notice_mails (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id         TEXT    NOT NULL REFERENCES webhook_events (id) ON DELETE CASCADE,
    organisation_id  TEXT    NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
    to_address       TEXT    NOT NULL,
    state            TEXT    NOT NULL CHECK (state IN ('pending', 'sent', 'failed', 'skipped')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL,
    locked_until     INTEGER,
    last_error       TEXT,
    sender           TEXT,
    sent_at          INTEGER,
    created_at       INTEGER NOT NULL
);
CREATE INDEX notice_mails_due ON notice_mails (state, next_attempt_at);
CREATE INDEX notice_mails_of_organisation ON notice_mails (organisation_id, created_at);
