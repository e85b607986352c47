-- Several instances on one database: the instance refreshing an account's token holds a lease
-- on it (its ID and until when, in milliseconds), taken and released by single statements, so
-- no database connection waits on Microsoft. The access token a refresh returned is kept sealed
-- (AES-256-GCM, bound to the row and field) with its expiry, so the instances that waited for it hand out that token instead of refreshing again.
ALTER TABLE accounts ADD COLUMN refresh_lease_owner TEXT;
ALTER TABLE accounts ADD COLUMN refresh_lease_until INTEGER;
ALTER TABLE accounts ADD COLUMN access_token BLOB;
ALTER TABLE accounts ADD COLUMN access_expires_at INTEGER;
-- When it was obtained (milliseconds): an instance told to forget its tokens takes none older.
ALTER TABLE accounts ADD COLUMN access_obtained_ms INTEGER;
