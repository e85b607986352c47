-- Connect sessions: the host's backend starts the wizard for one account of one of its
-- organisations, to run in the host's page (an iframe) or top-level (a hosted link). Everything
-- the browser may do is bound here, on the server. Tokens are stored only as hashes.

-- The parent origins an organisation's pages may frame Mailkey from (`https://erp.example.com`).
CREATE TABLE organisation_origins (
    organisation_id  TEXT NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
    origin           TEXT NOT NULL,
    PRIMARY KEY (organisation_id, origin)
);

CREATE TABLE connect_sessions (
    id               TEXT    PRIMARY KEY NOT NULL,
    organisation_id  TEXT    NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
    account_id       TEXT    NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    -- 'setup': the account's wizard; 'reconnect': only sign-in and the connection test.
    mode             TEXT    NOT NULL CHECK (mode IN ('setup', 'reconnect')),
    -- The host application's name, shown where the portal shows its own.
    host_name        TEXT    NOT NULL,
    return_url       TEXT,
    -- The launch token works once: its first use sets launched_at and the credential.
    launch_hash      BLOB    NOT NULL UNIQUE,
    launched_at      INTEGER,
    -- The session credential the page holds in memory (sent as a bearer header).
    credential_hash  BLOB    UNIQUE,
    created_at       INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL,
    revoked_at       INTEGER,
    -- The API key that made it (audit; NULL for the operator's own session).
    api_key_id       TEXT
);
CREATE INDEX connect_sessions_of_account ON connect_sessions (account_id);

CREATE TABLE connect_session_origins (
    session_id  TEXT NOT NULL REFERENCES connect_sessions (id) ON DELETE CASCADE,
    origin      TEXT NOT NULL,
    PRIMARY KEY (session_id, origin)
);

-- A sign-in started from an embedded wizard: the frame gets a one-time ticket, the popup
-- (top-level on Mailkey, where first-party cookies work) redeems it; the popup's own cookie
-- binds the round trip to Microsoft to that window as an operator's session cookie does.
CREATE TABLE embed_sign_ins (
    ticket_hash   BLOB    PRIMARY KEY NOT NULL,
    session_id    TEXT    NOT NULL REFERENCES connect_sessions (id) ON DELETE CASCADE,
    purpose       TEXT    NOT NULL CHECK (purpose IN ('sign_in', 'admin_consent')),
    -- The popup's browser binding (the hash of its cookie), once the popup used the ticket.
    browser_hash  BLOB,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    used_at       INTEGER
);
