-- The wizard's draft of each account. Non-secret settings are JSON documents shaped by the app
-- crate's `AppDetails` / `MailboxSettings`; the client secret is sealed (AES-256-GCM, bound to the
-- row and field) and never stored in plaintext.
ALTER TABLE accounts ADD COLUMN provider TEXT NOT NULL DEFAULT 'microsoft365';
ALTER TABLE accounts ADD COLUMN saved_step INTEGER NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN app_settings TEXT;
ALTER TABLE accounts ADD COLUMN tenant_id TEXT;
ALTER TABLE accounts ADD COLUMN client_secret BLOB;
ALTER TABLE accounts ADD COLUMN client_secret_set_at INTEGER;
ALTER TABLE accounts ADD COLUMN mailbox_settings TEXT;
