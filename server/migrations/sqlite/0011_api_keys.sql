-- API keys of host applications (an ERP's backend). Only the SHA-256 of a key is stored, so a
-- copy of the database opens nothing; the key itself is shown once when it is made. Each scope
-- is a column of its own. `last_used_at` is written in batches, never on a request's path.
CREATE TABLE api_keys (
    id             TEXT    PRIMARY KEY NOT NULL,
    name           TEXT    NOT NULL,
    key_hash       BLOB    NOT NULL UNIQUE,
    read_accounts  INTEGER NOT NULL CHECK (read_accounts IN (0, 1)),
    issue_tokens   INTEGER NOT NULL CHECK (issue_tokens IN (0, 1)),
    created_at     INTEGER NOT NULL,
    last_used_at   INTEGER,
    revoked_at     INTEGER
);
