//! Setup links and operator sessions. Tokens are stored as SHA-256 hashes only.

use sqlx::Row;

use super::{StorageError, Store};

/// A live operator session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRecord {
    pub created_at: i64,
    pub expires_at: i64,
}

impl Store {
    pub async fn insert_setup_link(
        &self,
        token_hash: &[u8],
        now: i64,
        expires_at: i64,
    ) -> Result<(), StorageError> {
        sqlx::query(
            "INSERT INTO setup_links (token_hash, created_at, expires_at) VALUES (?, ?, ?)",
        )
        .bind(token_hash)
        .bind(now)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Marks the setup link used and opens a session for it, in one transaction: a link that is
    /// unknown, used or expired opens nothing. Returns whether a session was opened.
    pub async fn redeem_setup_link(
        &self,
        token_hash: &[u8],
        session_hash: &[u8],
        now: i64,
        session_expires_at: i64,
    ) -> Result<bool, StorageError> {
        let mut tx = self.pool.begin().await?;
        let used = sqlx::query(
            "UPDATE setup_links SET used_at = ? \
             WHERE token_hash = ? AND used_at IS NULL AND expires_at > ?",
        )
        .bind(now)
        .bind(token_hash)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if used.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO operator_sessions (id_hash, created_at, expires_at) VALUES (?, ?, ?)",
        )
        .bind(session_hash)
        .bind(now)
        .bind(session_expires_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    pub async fn find_session(
        &self,
        session_hash: &[u8],
        now: i64,
    ) -> Result<Option<SessionRecord>, StorageError> {
        let row = sqlx::query(
            "SELECT created_at, expires_at FROM operator_sessions WHERE id_hash = ? AND expires_at > ?",
        )
        .bind(session_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| SessionRecord {
            created_at: r.get("created_at"),
            expires_at: r.get("expires_at"),
        }))
    }

    pub async fn delete_session(&self, session_hash: &[u8]) -> Result<(), StorageError> {
        sqlx::query("DELETE FROM operator_sessions WHERE id_hash = ?")
            .bind(session_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Whether anyone could still use the portal without a new setup link.
    pub async fn has_live_session(&self, now: i64) -> Result<bool, StorageError> {
        let n: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM operator_sessions WHERE expires_at > ?")
                .bind(now)
                .fetch_one(&self.pool)
                .await?;
        Ok(n > 0)
    }

    /// Drops expired sessions and links, so the tables do not grow without bound.
    pub async fn purge_expired_operator_access(&self, now: i64) -> Result<(), StorageError> {
        sqlx::query("DELETE FROM operator_sessions WHERE expires_at <= ?")
            .bind(now)
            .execute(&self.pool)
            .await?;
        sqlx::query("DELETE FROM setup_links WHERE expires_at <= ?")
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
