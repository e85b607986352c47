-- Organisations: the host application's customers. Each account belongs to one; the host names
-- it by its own `external_id` and never needs to store Mailkey's IDs. Existing accounts move into
-- a default organisation (nothing lost). An API key may be restricted to one organisation.
-- (SQLite cannot add a column with both a REFERENCES clause and a non-NULL default: the link is
-- kept by the code that writes accounts, and indexed.)
CREATE TABLE organisations (
    id           TEXT    PRIMARY KEY NOT NULL,
    external_id  TEXT    NOT NULL UNIQUE,
    name         TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);
INSERT INTO organisations (id, external_id, name, created_at, updated_at)
    VALUES ('org_default', 'default', 'Default organisation', unixepoch(), unixepoch());
ALTER TABLE accounts ADD COLUMN organisation_id TEXT NOT NULL DEFAULT 'org_default';
CREATE INDEX accounts_by_organisation ON accounts (organisation_id, name);

ALTER TABLE api_keys ADD COLUMN organisation_id TEXT REFERENCES organisations (id);
ALTER TABLE api_keys ADD COLUMN write_accounts INTEGER NOT NULL DEFAULT 0
    CHECK (write_accounts IN (0, 1));

-- The host's own ID for an account, unique within its organisation.
ALTER TABLE accounts ADD COLUMN external_id TEXT;
CREATE UNIQUE INDEX accounts_by_external_id ON accounts (organisation_id, external_id)
    WHERE external_id IS NOT NULL;
