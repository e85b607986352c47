//! API keys: decoded once here into [`ApiKeyRecord`] (scopes as booleans, times as numbers).

use super::{now, StorageError};

/// A stored API key, never its secret.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ApiKeyRecord {
    pub id: String,
    pub name: String,
    pub read_accounts: bool,
    pub write_accounts: bool,
    pub issue_tokens: bool,
    pub manage_webhooks: bool,
    /// The one organisation the key may touch, when restricted.
    pub organisation_id: Option<String>,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// A key to store: its public ID, name, the hash of its secret and its scopes.
pub struct NewApiKey<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub key_hash: &'a [u8],
    pub read_accounts: bool,
    pub write_accounts: bool,
    pub issue_tokens: bool,
    pub manage_webhooks: bool,
    pub organisation_id: Option<&'a str>,
}

const COLUMNS: &str = "id, name, read_accounts, write_accounts, issue_tokens, manage_webhooks, \
    organisation_id, \
    created_at, last_used_at, revoked_at";

/// The host API's keys (only their hashes).
#[async_trait::async_trait]
pub trait ApiKeyStore: Send + Sync + std::fmt::Debug {
    async fn insert_api_key(&self, k: NewApiKey<'_>) -> Result<(), StorageError>;

    /// The key whose secret hashes to `key_hash`, revoked or not.
    async fn api_key_by_hash(&self, key_hash: &[u8]) -> Result<Option<ApiKeyRecord>, StorageError>;

    async fn api_keys(&self) -> Result<Vec<ApiKeyRecord>, StorageError>;

    /// Revokes a key: refused from its next request on. False when there is no such key.
    async fn revoke_api_key(&self, id: &str) -> Result<bool, StorageError>;

    /// When keys were last used, gathered in memory and written together.
    async fn record_api_key_use(&self, used: &[(String, i64)]) -> Result<(), StorageError>;
}

per_database! {
    impl ApiKeyStore {
        async fn insert_api_key(&self, k: NewApiKey<'_>) -> Result<(), StorageError> {
            on_db!(self, pool => sqlx::query(
                "INSERT INTO api_keys (id, name, key_hash, read_accounts, write_accounts, \
                 issue_tokens, manage_webhooks, organisation_id, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(k.id)
            .bind(k.name)
            .bind(k.key_hash)
            .bind(k.read_accounts)
            .bind(k.write_accounts)
            .bind(k.issue_tokens)
            .bind(k.manage_webhooks)
            .bind(k.organisation_id)
            .bind(now())
            .execute(pool)
            .await.map(|r| r.rows_affected()))?;
            Ok(())
        }

        async fn api_key_by_hash(
            &self,
            key_hash: &[u8],
        ) -> Result<Option<ApiKeyRecord>, StorageError> {
            Ok(
                on_db!(self, pool => sqlx::query_as::<_, ApiKeyRecord>(&format!(
                "SELECT {COLUMNS} FROM api_keys WHERE key_hash = $1"
            ))
            .bind(key_hash)
            .fetch_optional(pool)
            .await)?,
            )
        }

        async fn api_keys(&self) -> Result<Vec<ApiKeyRecord>, StorageError> {
            Ok(
                on_db!(self, pool => sqlx::query_as::<_, ApiKeyRecord>(&format!(
                "SELECT {COLUMNS} FROM api_keys ORDER BY created_at, id"
            ))
            .fetch_all(pool)
            .await)?,
            )
        }

        async fn revoke_api_key(&self, id: &str) -> Result<bool, StorageError> {
            let done = on_db!(self, pool => sqlx::query("UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2")
                    .bind(now())
                    .bind(id)
                    .execute(pool)
                    .await.map(|r| r.rows_affected()))?;
            Ok(done == 1)
        }

        async fn record_api_key_use(&self, used: &[(String, i64)]) -> Result<(), StorageError> {
            // In the keys' order: instances flushing the same keys at once lock them in one order,
            // so neither waits for a key the other holds while holding one it wants.
            let mut used = used.to_vec();
            used.sort_unstable();
            let mut tx = self.begin().await?;
            for (id, at) in &used {
                on_tx!(&mut tx, c => sqlx::query(
                    "UPDATE api_keys SET last_used_at = CASE WHEN COALESCE(last_used_at, 0) > $1 THEN last_used_at ELSE $1 END WHERE id = $2",
                )
                .bind(at)
                .bind(id)
                .execute(c)
                .await.map(|r| r.rows_affected()))?;
            }
            tx.commit().await?;
            Ok(())
        }
    }
}
