-- `GET /api/v1/accounts` pages through accounts in creation order (`created_at`, then `id`).
CREATE INDEX accounts_by_creation ON accounts (created_at, id);
