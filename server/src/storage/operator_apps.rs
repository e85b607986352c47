//! The operator's multi-tenant apps saved on the settings page (one per provider).

use super::StorageError;

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct OperatorAppRecord {
    pub provider: String,
    pub client_id: String,
    pub sealed_secret: Vec<u8>,
    pub secret_expires: Option<String>,
    pub name: Option<String>,
    pub publisher: Option<String>,
    pub updated_at: i64,
}

/// The operator's own app registrations for one-click connect.
#[async_trait::async_trait]
pub trait OperatorAppStore: Send + Sync + std::fmt::Debug {
    async fn operator_apps(&self) -> Result<Vec<OperatorAppRecord>, StorageError>;

    /// Which apps are saved, as another instance compares them: each one's provider, client
    /// ID, sealed secret (a new seal for every save, so two saves in one second differ) and
    /// expiry.
    async fn operator_app_versions(
        &self,
    ) -> Result<Vec<(String, String, Vec<u8>, Option<String>)>, StorageError>;

    async fn save_operator_app(&self, r: &OperatorAppRecord) -> Result<(), StorageError>;

    /// How many accounts of a provider sign in with the operator's app: changing its client ID
    /// would disconnect them all.
    async fn operator_app_accounts(&self, provider: &str) -> Result<i64, StorageError>;
}

per_database! {
    impl OperatorAppStore {
        async fn operator_apps(&self) -> Result<Vec<OperatorAppRecord>, StorageError> {
            Ok(on_db!(self, pool => sqlx::query_as(
                "SELECT provider, client_id, sealed_secret, secret_expires, name, publisher, \
                 updated_at FROM operator_apps ORDER BY provider",
            )
            .fetch_all(pool)
            .await)?)
        }

        async fn operator_app_versions(
            &self,
        ) -> Result<Vec<(String, String, Vec<u8>, Option<String>)>, StorageError> {
            Ok(on_db!(self, pool => sqlx::query_as(
                "SELECT provider, client_id, sealed_secret, secret_expires FROM operator_apps \
                 ORDER BY provider",
            )
            .fetch_all(pool)
            .await)?)
        }

        async fn save_operator_app(&self, r: &OperatorAppRecord) -> Result<(), StorageError> {
            on_db!(self, pool => sqlx::query(
                "INSERT INTO operator_apps \
                 (provider, client_id, sealed_secret, secret_expires, name, publisher, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (provider) DO UPDATE SET client_id = excluded.client_id, \
                 sealed_secret = excluded.sealed_secret, secret_expires = excluded.secret_expires, \
                 name = excluded.name, publisher = excluded.publisher, \
                 updated_at = excluded.updated_at",
            )
            .bind(&r.provider)
            .bind(&r.client_id)
            .bind(&r.sealed_secret)
            .bind(&r.secret_expires)
            .bind(&r.name)
            .bind(&r.publisher)
            .bind(r.updated_at)
            .execute(pool)
            .await.map(|r| r.rows_affected()))?;
            Ok(())
        }

        async fn operator_app_accounts(&self, provider: &str) -> Result<i64, StorageError> {
            let n: i64 = on_db!(self, pool => sqlx::query_scalar(
                "SELECT COUNT(*) FROM accounts WHERE provider = $1 AND app_source = 'operator'",
            )
            .bind(provider)
            .fetch_one(pool)
            .await)?;
            Ok(n)
        }
    }
}
