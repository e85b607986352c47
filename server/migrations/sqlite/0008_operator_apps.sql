-- The operator's multi-tenant app of a provider as set on the settings page: it overrides the
-- configuration's, so a secret can be rotated without a restart. The secret is sealed like every
-- other secret (AAD: operator_apps / provider / client_secret).
CREATE TABLE operator_apps (
    provider TEXT PRIMARY KEY NOT NULL,
    client_id TEXT NOT NULL,
    sealed_secret BLOB NOT NULL,
    secret_expires TEXT,
    name TEXT,
    publisher TEXT,
    updated_at INTEGER NOT NULL
);
