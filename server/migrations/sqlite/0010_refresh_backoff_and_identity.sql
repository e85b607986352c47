-- Token upkeep's memory of a refresh that could not be done now. `refresh_retry_at`: no refresh
-- is sent before this time (Microsoft's Retry-After, or the backoff after the app's credentials
-- were refused); callers meanwhile get the stored answer without a request. `refresh_failures`
-- counts refusals of the app in a row, for the backoff. `attention_since`: when the account
-- started needing attention; past `attention_keep_alive_days` upkeep stops retrying it.
ALTER TABLE accounts ADD COLUMN refresh_failures INTEGER NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN refresh_retry_at INTEGER;
ALTER TABLE accounts ADD COLUMN attention_since INTEGER;
UPDATE accounts SET attention_since = updated_at WHERE state = 'needs_attention';

-- What a sign-in is for: bumped whenever the mailbox address or the app registration (client
-- ID, tenant, endpoints) changes. A sign-in remembers the value it started with and is stored
-- only if the account is still that account.
ALTER TABLE accounts ADD COLUMN identity_epoch INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sign_in_attempts ADD COLUMN account_epoch INTEGER NOT NULL DEFAULT 0;
