-- When the refresh token was last obtained (sign-in or refresh). Unused refresh tokens expire
-- (Microsoft: 90 days), so token upkeep refreshes accounts whose token has not been used for a
-- week, keeping connections alive even when the host application is quiet.
ALTER TABLE accounts ADD COLUMN refreshed_at INTEGER;
UPDATE accounts SET refreshed_at = signed_in_at WHERE refresh_token IS NOT NULL;
CREATE INDEX accounts_by_refresh ON accounts (state, refreshed_at);
