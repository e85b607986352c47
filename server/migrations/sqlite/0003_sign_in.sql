-- Sign-in: one row per authorization request Mailkey starts. Only a SHA-256 of `state` is kept;
-- the PKCE verifier is sealed (AES-256-GCM, bound to the row). A row is used once, lives ten
-- minutes, and belongs to the operator session (browser) that started it. Its outcome (JSON) is
-- what the wizard polls for when the popup cannot tell it.
CREATE TABLE sign_in_attempts (
    state_hash    BLOB    PRIMARY KEY NOT NULL,
    account_id    TEXT    NOT NULL,
    session_hash  BLOB    NOT NULL,
    purpose       TEXT    NOT NULL CHECK (purpose IN ('sign_in', 'admin_consent')),
    mode          TEXT    NOT NULL CHECK (mode IN ('popup', 'redirect')),
    pkce_verifier BLOB    NOT NULL,
    nonce         TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    used_at       INTEGER,
    finished_at   INTEGER,
    outcome       TEXT
);
CREATE INDEX sign_in_attempts_by_account ON sign_in_attempts (account_id, session_hash, finished_at);

-- The connection: the refresh token (sealed like the client secret), a generation counter that
-- guards its replacement against a stale writer, who signed in and when, and why the account
-- needs attention (JSON `SignInProblem`) when a refresh was refused.
ALTER TABLE accounts ADD COLUMN refresh_token BLOB;
ALTER TABLE accounts ADD COLUMN refresh_generation INTEGER NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN signed_in_as TEXT;
ALTER TABLE accounts ADD COLUMN signed_in_at INTEGER;
ALTER TABLE accounts ADD COLUMN connection_problem TEXT;
