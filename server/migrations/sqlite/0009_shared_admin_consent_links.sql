-- An admin-consent link the user sends to their administrator: mode `shared`. Unlike a sign-in
-- it is finished in the administrator's browser, so its callback is not bound to the operator
-- session that made it (`session_hash` still names that session, so its wizard shows the
-- outcome), and it lives for days. SQLite cannot change a CHECK constraint in place: the table is
-- rebuilt with the same columns.
CREATE TABLE sign_in_attempts_new (
    state_hash    BLOB    PRIMARY KEY NOT NULL,
    account_id    TEXT    NOT NULL,
    session_hash  BLOB    NOT NULL,
    purpose       TEXT    NOT NULL CHECK (purpose IN ('sign_in', 'admin_consent')),
    mode          TEXT    NOT NULL CHECK (mode IN ('popup', 'redirect', 'shared')),
    pkce_verifier BLOB    NOT NULL,
    nonce         TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    used_at       INTEGER,
    finished_at   INTEGER,
    outcome       TEXT,
    CHECK (mode <> 'shared' OR purpose = 'admin_consent')
);
INSERT INTO sign_in_attempts_new
    SELECT state_hash, account_id, session_hash, purpose, mode, pkce_verifier, nonce,
           created_at, expires_at, used_at, finished_at, outcome
    FROM sign_in_attempts;
DROP TABLE sign_in_attempts;
ALTER TABLE sign_in_attempts_new RENAME TO sign_in_attempts;
CREATE INDEX sign_in_attempts_by_account ON sign_in_attempts (account_id, session_hash, finished_at);
