-- One number that moves whenever something the host API answers from memory depends on: a key
-- revoked or removed, an account deleted, moved to another organisation, given other mailbox
-- settings or signed out. Every instance keeps those answers in memory and reads this one row
-- (one read shared by the requests that arrive meanwhile) before using them, so a revocation
-- counts on the next request everywhere without a database look-up per key and account.
-- Token refreshes do not move it: they change none of these columns.
CREATE TABLE revision (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    n  INTEGER NOT NULL
);
INSERT INTO revision (id, n) VALUES (1, 0);

CREATE TRIGGER api_keys_changed AFTER UPDATE OF revoked_at, organisation_id, read_accounts,
    write_accounts, issue_tokens ON api_keys
BEGIN UPDATE revision SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER api_keys_deleted AFTER DELETE ON api_keys
BEGIN UPDATE revision SET n = n + 1 WHERE id = 1; END;

CREATE TRIGGER accounts_changed AFTER UPDATE OF organisation_id, email, mailbox_settings,
    app_source, provider, identity_epoch ON accounts
BEGIN UPDATE revision SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER accounts_signed_out AFTER UPDATE OF refresh_token ON accounts
    WHEN NEW.refresh_token IS NULL AND OLD.refresh_token IS NOT NULL
BEGIN UPDATE revision SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER accounts_deleted AFTER DELETE ON accounts
BEGIN UPDATE revision SET n = n + 1 WHERE id = 1; END;
