-- The audit trail: every change and every secret handed out, append-only. Who (the actor's
-- kind, ID and name: an API key by its name, never its secret), what (the action and the
-- names of the fields sent, never their values), which organisation and account, when, from
-- which address. Access-token hand-outs are batched: one row counts those of one key for one
-- account from one address within a flush (`count`, from `first_at` to `at`).
CREATE TABLE audit_events (
    id               INTEGER PRIMARY KEY,
    at               INTEGER NOT NULL,
    first_at         INTEGER NOT NULL,
    actor_kind       TEXT    NOT NULL CHECK (actor_kind IN ('operator', 'api_key', 'connect_session', 'anonymous')),
    actor_id         TEXT,
    actor_name       TEXT    NOT NULL DEFAULT '',
    action           TEXT    NOT NULL,
    organisation_id  TEXT,
    account_id       TEXT,
    fields           TEXT    NOT NULL DEFAULT '',
    address          TEXT,
    count            INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX audit_events_at ON audit_events (at);
CREATE INDEX audit_events_of_organisation ON audit_events (organisation_id, id);
CREATE INDEX audit_events_of_account ON audit_events (account_id, id);
