//! The operator's multi-tenant apps saved on the settings page (one per provider).

use sqlx::Row;

use super::{StorageError, Store};

#[derive(Clone, Debug)]
pub struct OperatorAppRecord {
    pub provider: String,
    pub client_id: String,
    pub sealed_secret: Vec<u8>,
    pub secret_expires: Option<String>,
    pub name: Option<String>,
    pub publisher: Option<String>,
    pub updated_at: i64,
}

impl Store {
    pub async fn operator_apps(&self) -> Result<Vec<OperatorAppRecord>, StorageError> {
        let rows = sqlx::query(
            "SELECT provider, client_id, sealed_secret, secret_expires, name, publisher, \
             updated_at FROM operator_apps ORDER BY provider",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(OperatorAppRecord {
                    provider: r.try_get("provider")?,
                    client_id: r.try_get("client_id")?,
                    sealed_secret: r.try_get("sealed_secret")?,
                    secret_expires: r.try_get("secret_expires")?,
                    name: r.try_get("name")?,
                    publisher: r.try_get("publisher")?,
                    updated_at: r.try_get("updated_at")?,
                })
            })
            .collect()
    }

    pub async fn save_operator_app(&self, r: &OperatorAppRecord) -> Result<(), StorageError> {
        sqlx::query(
            "INSERT INTO operator_apps \
             (provider, client_id, sealed_secret, secret_expires, name, publisher, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?) \
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
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// How many accounts of a provider sign in with the operator's app: changing its client ID
    /// would disconnect them all.
    pub async fn operator_app_accounts(&self, provider: &str) -> Result<i64, StorageError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM accounts WHERE provider = ? AND app_source = 'operator'",
        )
        .bind(provider)
        .fetch_one(&self.pool)
        .await?;
        Ok(n)
    }
}
