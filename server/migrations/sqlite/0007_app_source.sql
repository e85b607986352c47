-- Whose app registration an account signs in with: `own` (the customer registered one; its
-- client ID and sealed secret are in the app settings) or `operator` (the operator's
-- multi-tenant app from configuration; nothing of it is stored per account, so rotating its
-- secret touches no account).
ALTER TABLE accounts ADD COLUMN app_source TEXT NOT NULL DEFAULT 'own';
