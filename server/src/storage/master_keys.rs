//! The master keys as the database knows them: which one new values are sealed with (the
//! primary), which are retired, which each running instance holds, and the sealed values
//! themselves, counted and re-sealed by the key they name.

use super::StorageError;

/// A column holding sealed values, with what binds each value to its row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SealedColumn {
    AccountClientSecret,
    AccountRefreshToken,
    AccountAccessToken,
    OperatorAppSecret,
    WebhookSecret,
    SignInVerifier,
}

impl SealedColumn {
    pub const ALL: [SealedColumn; 6] = [
        SealedColumn::AccountClientSecret,
        SealedColumn::AccountRefreshToken,
        SealedColumn::AccountAccessToken,
        SealedColumn::OperatorAppSecret,
        SealedColumn::WebhookSecret,
        SealedColumn::SignInVerifier,
    ];

    /// Table, the row's key column, the sealed column.
    pub fn sql(self) -> (&'static str, &'static str, &'static str) {
        match self {
            SealedColumn::AccountClientSecret => ("accounts", "id", "client_secret"),
            SealedColumn::AccountRefreshToken => ("accounts", "id", "refresh_token"),
            SealedColumn::AccountAccessToken => ("accounts", "id", "access_token"),
            SealedColumn::OperatorAppSecret => ("operator_apps", "provider", "sealed_secret"),
            SealedColumn::WebhookSecret => ("webhook_endpoints", "id", "sealed_secret"),
            SealedColumn::SignInVerifier => ("sign_in_attempts", "state_hash", "pkce_verifier"),
        }
    }

    /// Its row keys are bytes (a hash), not text.
    fn keyed_by_bytes(self) -> bool {
        self == SealedColumn::SignInVerifier
    }

    /// What people call it, in `mailkey keys status`.
    pub fn label(self) -> &'static str {
        match self {
            SealedColumn::AccountClientSecret => "accounts' client secrets",
            SealedColumn::AccountRefreshToken => "accounts' refresh tokens",
            SealedColumn::AccountAccessToken => "accounts' access tokens",
            SealedColumn::OperatorAppSecret => "operator apps' client secrets",
            SealedColumn::WebhookSecret => "webhook endpoints' signing secrets",
            SealedColumn::SignInVerifier => "sign-ins under way (PKCE verifiers)",
        }
    }
}

/// A row's key, as its table has it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RowKey {
    Text(String),
    Bytes(Vec<u8>),
}

/// One sealed value and the row it is in.
#[derive(Clone, Debug)]
pub struct SealedValue {
    pub row: RowKey,
    pub blob: Vec<u8>,
}

/// A key an instance holds.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct HeldKey {
    pub instance: String,
    pub key_id: String,
    /// The instance seals new values with it.
    pub seals: bool,
}

/// How many values of a column name one key ID.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct KeyCount {
    pub key_id: Vec<u8>,
    pub held: i64,
}

#[async_trait::async_trait]
pub trait MasterKeyStore: Send + Sync + std::fmt::Debug {
    /// The key new values are sealed with, by its ID in hex (none before the first start).
    async fn primary_master_key(&self) -> Result<Option<String>, StorageError>;

    /// Makes `new` the primary key if `old` still is; false when another rotation came first.
    async fn promote_master_key(&self, old: &str, new: &str) -> Result<bool, StorageError>;

    async fn retired_master_keys(&self) -> Result<Vec<String>, StorageError>;

    async fn retire_master_key(&self, key_id: &str, now: i64) -> Result<(), StorageError>;

    /// Records the keys `instance` holds now and the one it seals with, and drops what
    /// instances gone for a day said.
    async fn report_held_keys(
        &self,
        instance: &str,
        key_ids: &[String],
        seals_with: &str,
        now: i64,
    ) -> Result<(), StorageError>;

    /// Every key held by an instance heard from since `since`.
    async fn held_keys_since(&self, since: i64) -> Result<Vec<HeldKey>, StorageError>;

    /// Values in `column` sealed with any key but `primary`, at most `limit`.
    async fn values_not_sealed_with(
        &self,
        column: SealedColumn,
        primary: &[u8],
        limit: i64,
    ) -> Result<Vec<SealedValue>, StorageError>;

    /// Replaces a value if it is still the one read: a writer that sealed anew meanwhile wins.
    async fn replace_sealed(
        &self,
        column: SealedColumn,
        row: &RowKey,
        old: &[u8],
        new: &[u8],
    ) -> Result<bool, StorageError>;

    /// How many values of `column` each key ID holds.
    async fn count_by_key(&self, column: SealedColumn) -> Result<Vec<KeyCount>, StorageError>;
}

per_database! {
    impl MasterKeyStore {
        async fn primary_master_key(&self) -> Result<Option<String>, StorageError> {
            Ok(on_db!(self, pool => sqlx::query_scalar(
                "SELECT key_id FROM master_key WHERE id = 1",
            )
            .fetch_optional(pool)
            .await)?)
        }

        async fn promote_master_key(&self, old: &str, new: &str) -> Result<bool, StorageError> {
            let done = on_db!(self, pool => sqlx::query(
                "UPDATE master_key SET key_id = $1 WHERE id = 1 AND key_id = $2",
            )
            .bind(new)
            .bind(old)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
            Ok(done == 1)
        }

        async fn retired_master_keys(&self) -> Result<Vec<String>, StorageError> {
            Ok(on_db!(self, pool => sqlx::query_scalar(
                "SELECT key_id FROM retired_master_keys ORDER BY key_id",
            )
            .fetch_all(pool)
            .await)?)
        }

        async fn retire_master_key(&self, key_id: &str, now: i64) -> Result<(), StorageError> {
            on_db!(self, pool => sqlx::query(
                "INSERT INTO retired_master_keys (key_id, retired_at) VALUES ($1, $2) \
                 ON CONFLICT (key_id) DO NOTHING",
            )
            .bind(key_id)
            .bind(now)
            .execute(pool)
            .await
            .map(drop))?;
            Ok(())
        }

        async fn report_held_keys(
            &self,
            instance: &str,
            key_ids: &[String],
            seals_with: &str,
            now: i64,
        ) -> Result<(), StorageError> {
            // Upserts, not delete-then-insert: two reports of one instance at once (its upkeep
            // and a command) must not collide on the key.
            let mut tx = self.begin().await?;
            for key_id in key_ids {
                on_tx!(&mut tx, c => sqlx::query(
                    "INSERT INTO master_key_holders (instance, key_id, seals, seen_at) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (instance, key_id) \
                     DO UPDATE SET seals = excluded.seals, seen_at = excluded.seen_at",
                )
                .bind(instance)
                .bind(key_id)
                .bind(key_id == seals_with)
                .bind(now)
                .execute(&mut *c)
                .await
                .map(drop))?;
            }
            // Keys it no longer holds (all of them when it stops), and instances gone a day.
            let dropped_before = if key_ids.is_empty() { i64::MAX } else { now };
            on_tx!(&mut tx, c => sqlx::query(
                "DELETE FROM master_key_holders \
                 WHERE (instance = $1 AND seen_at < $2) OR seen_at < $3",
            )
            .bind(instance)
            .bind(dropped_before)
            .bind(now - 86_400)
            .execute(&mut *c)
            .await
            .map(drop))?;
            tx.commit().await?;
            Ok(())
        }

        async fn held_keys_since(&self, since: i64) -> Result<Vec<HeldKey>, StorageError> {
            Ok(on_db!(self, pool => sqlx::query_as(
                "SELECT instance, key_id, seals FROM master_key_holders WHERE seen_at >= $1 \
                 ORDER BY instance, key_id",
            )
            .bind(since)
            .fetch_all(pool)
            .await)?)
        }

        async fn values_not_sealed_with(
            &self,
            column: SealedColumn,
            primary: &[u8],
            limit: i64,
        ) -> Result<Vec<SealedValue>, StorageError> {
            use sqlx::Row;
            let (table, key, sealed) = column.sql();
            // Bytes 2 to 9 of a sealed value are the ID of the key that sealed it.
            let sql = format!(
                "SELECT {key}, {sealed} FROM {table} \
                 WHERE {sealed} IS NOT NULL AND substr({sealed}, 2, 8) <> $1 LIMIT $2"
            );
            let rows = on_db!(self, pool => sqlx::query(&sql)
                .bind(primary)
                .bind(limit)
                .fetch_all(pool)
                .await)?;
            let mut values = Vec::with_capacity(rows.len());
            for r in rows {
                let row = if column.keyed_by_bytes() {
                    RowKey::Bytes(r.try_get(0)?)
                } else {
                    RowKey::Text(r.try_get(0)?)
                };
                values.push(SealedValue { row, blob: r.try_get(1)? });
            }
            Ok(values)
        }

        async fn replace_sealed(
            &self,
            column: SealedColumn,
            row: &RowKey,
            old: &[u8],
            new: &[u8],
        ) -> Result<bool, StorageError> {
            let (table, key, sealed) = column.sql();
            let sql = format!(
                "UPDATE {table} SET {sealed} = $1 WHERE {key} = $2 AND {sealed} = $3"
            );
            let query = sqlx::query(&sql).bind(new);
            let query = match row {
                RowKey::Text(t) => query.bind(t.clone()),
                RowKey::Bytes(b) => query.bind(b.clone()),
            };
            let done = on_db!(self, pool => query
                .bind(old)
                .execute(pool)
                .await
                .map(|r| r.rows_affected()))?;
            Ok(done == 1)
        }

        async fn count_by_key(&self, column: SealedColumn) -> Result<Vec<KeyCount>, StorageError> {
            let (table, _, sealed) = column.sql();
            let sql = format!(
                "SELECT substr({sealed}, 2, 8) AS key_id, COUNT(*) AS held FROM {table} \
                 WHERE {sealed} IS NOT NULL GROUP BY substr({sealed}, 2, 8)"
            );
            Ok(on_db!(self, pool => sqlx::query_as(&sql).fetch_all(pool).await)?)
        }
    }
}

#[cfg(test)]
mod tests {

    /// One instance reporting twice at once (its upkeep and a command) does not collide; a key
    /// it no longer holds is dropped, and all of them when it stops.
    #[tokio::test]
    async fn reports_of_held_keys_upsert_and_stopping_forgets_them() {
        let dir = tempfile::tempdir().unwrap();
        let store = super::super::testing::store(dir.path()).await;
        let keys = vec![
            "aaaaaaaaaaaaaaaa".to_string(),
            "bbbbbbbbbbbbbbbb".to_string(),
        ];
        for _ in 0..20 {
            let (a, b) = tokio::join!(
                store.report_held_keys("i1", &keys, "aaaaaaaaaaaaaaaa", 100),
                store.report_held_keys("i1", &keys, "aaaaaaaaaaaaaaaa", 100),
            );
            a.unwrap();
            b.unwrap();
        }
        let held = store.held_keys_since(0).await.unwrap();
        assert_eq!(held.len(), 2);
        assert!(held.iter().any(|h| h.key_id == keys[0] && h.seals));
        store
            .report_held_keys("i1", &keys[1..], "bbbbbbbbbbbbbbbb", 101)
            .await
            .unwrap();
        let held = store.held_keys_since(0).await.unwrap();
        assert_eq!(held.len(), 1, "{held:?}");
        assert!(held[0].seals);
        store.report_held_keys("i1", &[], "", 101).await.unwrap();
        assert!(store.held_keys_since(0).await.unwrap().is_empty());
    }
}
