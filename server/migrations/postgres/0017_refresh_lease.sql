-- See SQLite's 0017: the refresh lease and the shared access token.
ALTER TABLE accounts ADD COLUMN refresh_lease_owner TEXT;
ALTER TABLE accounts ADD COLUMN refresh_lease_until BIGINT;
ALTER TABLE accounts ADD COLUMN access_token BYTEA;
ALTER TABLE accounts ADD COLUMN access_expires_at BIGINT;
ALTER TABLE accounts ADD COLUMN access_obtained_ms BIGINT;
