//! Setup links and operator sessions. Tokens are stored as SHA-256 hashes only.

use super::StorageError;

/// A live operator session.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct SessionRecord {
    pub created_at: i64,
    pub expires_at: i64,
}

/// Operator sign-in: setup links, sessions, and the master key every instance must hold.
#[async_trait::async_trait]
pub trait OperatorSessionStore: Send + Sync + std::fmt::Debug {
    /// Records `key_id` as the master key of every instance on this database unless one is
    /// recorded already; answers the one recorded (the caller refuses to start on another).
    async fn agree_master_key(&self, key_id: &str) -> Result<String, StorageError>;

    async fn insert_setup_link(
        &self,
        token_hash: &[u8],
        now: i64,
        expires_at: i64,
    ) -> Result<(), StorageError>;

    /// Marks the setup link used and opens a session for it, in one transaction: a link that is
    /// unknown, used or expired opens nothing. Returns whether a session was opened.
    async fn redeem_setup_link(
        &self,
        token_hash: &[u8],
        session_hash: &[u8],
        now: i64,
        session_expires_at: i64,
    ) -> Result<bool, StorageError>;

    async fn find_session(
        &self,
        session_hash: &[u8],
        now: i64,
    ) -> Result<Option<SessionRecord>, StorageError>;

    async fn delete_session(&self, session_hash: &[u8]) -> Result<(), StorageError>;

    /// Whether anyone could still use the portal without a new setup link.
    async fn has_live_session(&self, now: i64) -> Result<bool, StorageError>;

    /// Drops expired sessions and links, so the tables do not grow without bound.
    async fn purge_expired_operator_access(&self, now: i64) -> Result<(), StorageError>;
}

per_database! {
    impl OperatorSessionStore {
        async fn agree_master_key(&self, key_id: &str) -> Result<String, StorageError> {
            on_db!(self, pool => sqlx::query(
                "INSERT INTO master_key (id, key_id) VALUES (1, $1) ON CONFLICT (id) DO NOTHING",
            )
            .bind(key_id)
            .execute(pool)
            .await
            .map(drop))?;
            Ok(on_db!(self, pool => sqlx::query_scalar(
                "SELECT key_id FROM master_key WHERE id = 1",
            )
            .fetch_one(pool)
            .await)?)
        }

        async fn insert_setup_link(
            &self,
            token_hash: &[u8],
            now: i64,
            expires_at: i64,
        ) -> Result<(), StorageError> {
            on_db!(self, pool => sqlx::query(
                "INSERT INTO setup_links (token_hash, created_at, expires_at) VALUES ($1, $2, $3)",
            )
            .bind(token_hash)
            .bind(now)
            .bind(expires_at)
            .execute(pool)
            .await.map(|r| r.rows_affected()))?;
            Ok(())
        }

        async fn redeem_setup_link(
            &self,
            token_hash: &[u8],
            session_hash: &[u8],
            now: i64,
            session_expires_at: i64,
        ) -> Result<bool, StorageError> {
            let mut tx = self.begin().await?;
            let used = on_tx!(&mut tx, c => sqlx::query(
                "UPDATE setup_links SET used_at = $1 \
                 WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $3",
            )
            .bind(now)
            .bind(token_hash)
            .bind(now)
            .execute(c)
            .await.map(|r| r.rows_affected()))?;
            if used != 1 {
                tx.rollback().await?;
                return Ok(false);
            }
            on_tx!(&mut tx, c => sqlx::query(
                "INSERT INTO operator_sessions (id_hash, created_at, expires_at) VALUES ($1, $2, $3)",
            )
            .bind(session_hash)
            .bind(now)
            .bind(session_expires_at)
            .execute(c)
            .await.map(|r| r.rows_affected()))?;
            tx.commit().await?;
            Ok(true)
        }

        async fn find_session(
            &self,
            session_hash: &[u8],
            now: i64,
        ) -> Result<Option<SessionRecord>, StorageError> {
            Ok(on_db!(self, pool => sqlx::query_as(
                "SELECT created_at, expires_at FROM operator_sessions WHERE id_hash = $1 AND expires_at > $2",
            )
            .bind(session_hash)
            .bind(now)
            .fetch_optional(pool)
            .await)?)
        }

        async fn delete_session(&self, session_hash: &[u8]) -> Result<(), StorageError> {
            on_db!(self, pool => sqlx::query("DELETE FROM operator_sessions WHERE id_hash = $1")
                .bind(session_hash)
                .execute(pool)
                .await.map(|r| r.rows_affected()))?;
            Ok(())
        }

        async fn has_live_session(&self, now: i64) -> Result<bool, StorageError> {
            let n: i64 = on_db!(self, pool => sqlx::query_scalar("SELECT COUNT(*) FROM operator_sessions WHERE expires_at > $1")
                    .bind(now)
                    .fetch_one(pool)
                    .await)?;
            Ok(n > 0)
        }

        async fn purge_expired_operator_access(&self, now: i64) -> Result<(), StorageError> {
            on_db!(self, pool => sqlx::query("DELETE FROM operator_sessions WHERE expires_at <= $1")
                .bind(now)
                .execute(pool)
                .await.map(|r| r.rows_affected()))?;
            on_db!(self, pool => sqlx::query("DELETE FROM setup_links WHERE expires_at <= $1")
                .bind(now)
                .execute(pool)
                .await.map(|r| r.rows_affected()))?;
            Ok(())
        }
    }
}
