-- Operator access: one-time setup links and the sessions they open. Only SHA-256 hashes of the
-- tokens are stored, so a copy of the database does not let anyone sign in.
CREATE TABLE setup_links (
    token_hash  BLOB    PRIMARY KEY NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER
);

CREATE TABLE operator_sessions (
    id_hash     BLOB    PRIMARY KEY NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);
CREATE INDEX operator_sessions_expiry ON operator_sessions (expires_at);

-- One row per mailbox connection; each has its own app registration (columns for it arrive with
-- the wizard).
CREATE TABLE accounts (
    id          TEXT    PRIMARY KEY NOT NULL,
    name        TEXT    NOT NULL,
    email       TEXT    NOT NULL,
    state       TEXT    NOT NULL
        CHECK (state IN ('draft', 'ready_to_sign_in', 'connected', 'needs_attention')),
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE INDEX accounts_by_email ON accounts (email);
