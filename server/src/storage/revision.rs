//! How instances on one PostgreSQL database hear that the revision moved (migration 0021): a
//! listening connection per instance, and a row per listener saying what it has taken in.
//! SQLite has no listeners: every process sees commits in the WAL index (see
//! `crate::freshness`).

use std::time::Duration;

use sqlx::postgres::PgListener;

use super::{PgStore, SqliteStore, StorageError};

/// The channel the revision's trigger notifies, with the new revision as payload; heartbeats
/// travel on it too, so that hearing one proves every revision committed before it was heard.
const CHANNEL: &str = "mailkey_revision";
const HEARTBEAT: &str = "heartbeat";

/// What a listening connection heard.
#[derive(Debug, PartialEq, Eq)]
pub enum Heard {
    /// The revision moved to this.
    Revision(i64),
    /// A listener's heartbeat (see [`Store::renew_listener`]).
    Heartbeat { instance: String, beat: u64 },
    /// Something this version does not understand: taken as a move of unknown revision, which
    /// costs a reading, never staleness.
    Unknown,
    /// The connection was lost: notifications sent meanwhile are gone.
    Lost,
}

/// A connection of its own that listens for the revision to move.
pub struct RevisionFeed {
    listener: PgListener,
    backend: i32,
}

impl RevisionFeed {
    /// The database server's process serving this connection: while it runs, the connection
    /// is open.
    pub fn backend(&self) -> i32 {
        self.backend
    }

    /// The next thing heard. After [`Heard::Lost`] the feed is spent: open a new one.
    pub async fn next(&mut self) -> Heard {
        match self.listener.try_recv().await {
            Ok(Some(n)) => parse(n.payload()).unwrap_or_else(|| {
                tracing::warn!(
                    payload = n.payload(),
                    "an unknown notification on the revision channel"
                );
                Heard::Unknown
            }),
            Ok(None) => Heard::Lost,
            Err(e) => {
                tracing::warn!(error = %e, "the connection listening for revisions failed");
                Heard::Lost
            }
        }
    }
}

fn parse(payload: &str) -> Option<Heard> {
    if let Some(rest) = payload.strip_prefix(HEARTBEAT) {
        let mut words = rest.split_whitespace();
        let instance = words.next()?.to_owned();
        let beat = words.next()?.parse().ok()?;
        return Some(Heard::Heartbeat { instance, beat });
    }
    payload.parse().ok().map(Heard::Revision)
}

/// How instances hear the revision move: PostgreSQL's listeners (migration 0021). SQLite
/// has none; its WAL index tells every process of every commit.
#[async_trait::async_trait]
pub trait RevisionStore: Send + Sync + std::fmt::Debug {
    /// A connection listening for the revision to move; `None` on SQLite.
    async fn revision_feed(&self) -> Result<Option<RevisionFeed>, StorageError>;

    /// Records that `instance`, listening on the connection `backend` serves (see
    /// [`RevisionFeed::backend`]), has taken in revision `seen` and may answer from memory for
    /// `lease` more, then sends its heartbeat `beat`: one transaction, so the heartbeat is heard
    /// after every revision committed before it.
    async fn renew_listener(
        &self,
        instance: &str,
        backend: i32,
        seen: i64,
        lease: Duration,
        beat: u64,
    ) -> Result<(), StorageError>;

    /// Records that `instance` has taken in revision `seen` (its lease unchanged).
    async fn acknowledge_revision(&self, instance: &str, seen: i64) -> Result<(), StorageError>;

    /// How many listeners have not yet taken in the current revision while they may still
    /// answer from memory: their lease runs and their listening connection is open (a process
    /// that died has its connections closed by the kernel, and is not waited for).
    async fn listeners_behind(&self) -> Result<i64, StorageError>;

    /// Forgets a listener that stops: writers no longer wait for it.
    async fn remove_listener(&self, instance: &str) -> Result<(), StorageError>;

    /// Listeners whose lease ran out long ago (instances that died) are forgotten.
    async fn forget_stale_listeners(&self) -> Result<(), StorageError>;
}

/// One process per file, or several that all see the WAL index: nobody to tell.
#[async_trait::async_trait]
impl RevisionStore for SqliteStore {
    async fn revision_feed(&self) -> Result<Option<RevisionFeed>, StorageError> {
        Ok(None)
    }

    async fn renew_listener(
        &self,
        _instance: &str,
        _backend: i32,
        _seen: i64,
        _lease: Duration,
        _beat: u64,
    ) -> Result<(), StorageError> {
        Ok(())
    }

    async fn acknowledge_revision(&self, _instance: &str, _seen: i64) -> Result<(), StorageError> {
        Ok(())
    }

    async fn listeners_behind(&self) -> Result<i64, StorageError> {
        Ok(0)
    }

    async fn remove_listener(&self, _instance: &str) -> Result<(), StorageError> {
        Ok(())
    }

    async fn forget_stale_listeners(&self) -> Result<(), StorageError> {
        Ok(())
    }
}

#[async_trait::async_trait]
impl RevisionStore for PgStore {
    async fn revision_feed(&self) -> Result<Option<RevisionFeed>, StorageError> {
        // Its own connection (not one of the pool's), which ends when the pool is closed.
        let mut listener = PgListener::connect_with(&self.pool).await?;
        listener.listen(CHANNEL).await?;
        let backend = sqlx::query_scalar("SELECT pg_backend_pid()")
            .fetch_one(&mut listener)
            .await?;
        Ok(Some(RevisionFeed { listener, backend }))
    }

    async fn renew_listener(
        &self,
        instance: &str,
        backend: i32,
        seen: i64,
        lease: Duration,
        beat: u64,
    ) -> Result<(), StorageError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO revision_listeners (instance, seen, expires_at, backend) \
             VALUES ($1, $2, clock_timestamp() + make_interval(secs => $3), $4) \
             ON CONFLICT (instance) DO UPDATE SET \
                 seen = GREATEST(revision_listeners.seen, EXCLUDED.seen), \
                 expires_at = EXCLUDED.expires_at, backend = EXCLUDED.backend",
        )
        .bind(instance)
        .bind(seen)
        .bind(lease.as_secs_f64())
        .bind(backend)
        .execute(&mut *tx)
        .await?;
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(format!("{HEARTBEAT} {instance} {beat}"))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn acknowledge_revision(&self, instance: &str, seen: i64) -> Result<(), StorageError> {
        sqlx::query("UPDATE revision_listeners SET seen = GREATEST(seen, $2) WHERE instance = $1")
            .bind(instance)
            .bind(seen)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn listeners_behind(&self) -> Result<i64, StorageError> {
        Ok(sqlx::query_scalar(
            "SELECT count(*) FROM revision_listeners \
             WHERE seen < (SELECT n FROM revision WHERE id = 1) \
               AND expires_at > clock_timestamp() \
               AND backend IN (SELECT pid FROM pg_stat_activity)",
        )
        .fetch_one(&self.pool)
        .await?)
    }

    async fn remove_listener(&self, instance: &str) -> Result<(), StorageError> {
        sqlx::query("DELETE FROM revision_listeners WHERE instance = $1")
            .bind(instance)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn forget_stale_listeners(&self) -> Result<(), StorageError> {
        sqlx::query(
            "DELETE FROM revision_listeners \
             WHERE expires_at < clock_timestamp() - interval '1 hour'",
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_are_revisions_or_heartbeats() {
        assert_eq!(parse("42"), Some(Heard::Revision(42)));
        assert_eq!(
            parse("heartbeat 0a1b 7"),
            Some(Heard::Heartbeat {
                instance: "0a1b".into(),
                beat: 7
            })
        );
        assert_eq!(parse("heartbeat 0a1b"), None);
        assert_eq!(parse("nonsense"), None);
    }
}
