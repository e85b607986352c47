//! Connection tests while they run, kept in the database so that any instance can show a run
//! another instance drives: who may watch it, whether its driver is still alive, its stage
//! events in order and, once done, its report.

use mailkey_app::mail_test::{StageEvent, StageId, StageStatus, TestReport};

use super::{decode, encode, now_ms, StorageError, Store};

/// How long a finished run can still be watched.
const KEEP_FINISHED_MS: i64 = 10 * 60 * 1000;

/// A run as a watcher sees it.
#[derive(Clone, Debug)]
pub struct LiveTestRecord {
    pub account_id: String,
    pub session_hash: Vec<u8>,
    /// Until when (ms) its driver said it is alive.
    pub alive_until: i64,
    /// The report, once it finished.
    pub report: Option<TestReport>,
}

#[derive(sqlx::FromRow)]
struct LiveTestRow {
    account_id: String,
    session_hash: Vec<u8>,
    alive_until: i64,
    report: Option<String>,
}

#[derive(sqlx::FromRow)]
struct EventRow {
    #[sqlx(try_from = "String")]
    stage: StageId,
    #[sqlx(try_from = "String")]
    status: StageStatus,
    millis: i64,
    detail: Option<String>,
}

impl Store {
    /// Starts a run of the account's test unless one is still going (a finished report not
    /// yet written and a driver alive): `false` then. Drops runs finished long ago, and runs
    /// whose driver died as long ago, on the way.
    pub async fn begin_live_test(
        &self,
        run_key: &str,
        account_id: &str,
        session_hash: &[u8],
        alive_until: i64,
    ) -> Result<bool, StorageError> {
        let t = now_ms();
        let stale = t - KEEP_FINISHED_MS;
        // Read, then write: the account's row is locked (SQLite: the write lock taken at once)
        // so two instances starting a test of it together cannot both see it idle.
        let mut tx = self.begin_write().await?;
        on_tx!(&mut tx, c => sqlx::query(
            "DELETE FROM live_test_events WHERE run_key IN (SELECT run_key FROM live_tests \
             WHERE COALESCE(finished_at, alive_until) < $1)",
        )
        .bind(stale)
        .execute(c)
        .await
        .map(drop))?;
        on_tx!(&mut tx, c => sqlx::query(
            "DELETE FROM live_tests WHERE COALESCE(finished_at, alive_until) < $1",
        )
        .bind(stale)
        .execute(c)
        .await
        .map(drop))?;
        let _: Option<String> = on_tx!(&mut tx, c, dialect => sqlx::query_scalar(&format!(
            "SELECT id FROM accounts WHERE id = $1{}",
            dialect.for_update()
        ))
        .bind(account_id)
        .fetch_optional(c)
        .await)?;
        let busy: bool = on_tx!(&mut tx, c => sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM live_tests WHERE account_id = $1 \
             AND finished_at IS NULL AND alive_until > $2)",
        )
        .bind(account_id)
        .bind(t)
        .fetch_one(c)
        .await)?;
        if busy {
            return Ok(false);
        }
        on_tx!(&mut tx, c => sqlx::query(
            "INSERT INTO live_tests (run_key, account_id, session_hash, started_at, alive_until) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(run_key)
        .bind(account_id)
        .bind(session_hash)
        .bind(t)
        .bind(alive_until)
        .execute(c)
        .await
        .map(drop))?;
        tx.commit().await?;
        Ok(true)
    }

    /// The run's `seq`-th stage event (from 0).
    pub async fn add_live_test_event(
        &self,
        run_key: &str,
        seq: i64,
        event: &StageEvent,
    ) -> Result<(), StorageError> {
        on_db!(self, pool => sqlx::query(
            "INSERT INTO live_test_events (run_key, seq, stage, status, millis, detail) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(run_key)
        .bind(seq)
        .bind(event.stage.as_str())
        .bind(event.status.as_str())
        .bind(i64::try_from(event.millis).unwrap_or(i64::MAX))
        .bind(event.detail.as_deref())
        .execute(pool)
        .await
        .map(drop))?;
        Ok(())
    }

    /// Says the run's driver is alive until `alive_until` (ms).
    pub async fn keep_live_test_alive(
        &self,
        run_key: &str,
        alive_until: i64,
    ) -> Result<(), StorageError> {
        on_db!(self, pool => sqlx::query(
            "UPDATE live_tests SET alive_until = $1 WHERE run_key = $2 AND finished_at IS NULL",
        )
        .bind(alive_until)
        .bind(run_key)
        .execute(pool)
        .await
        .map(drop))?;
        Ok(())
    }

    pub async fn finish_live_test(
        &self,
        run_key: &str,
        report: &TestReport,
    ) -> Result<(), StorageError> {
        let report = encode(report)?;
        on_db!(self, pool => sqlx::query(
            "UPDATE live_tests SET report = $1, finished_at = $2 WHERE run_key = $3",
        )
        .bind(report)
        .bind(now_ms())
        .bind(run_key)
        .execute(pool)
        .await
        .map(drop))?;
        Ok(())
    }

    pub async fn live_test(&self, run_key: &str) -> Result<Option<LiveTestRecord>, StorageError> {
        let row: Option<LiveTestRow> = on_db!(self, pool => sqlx::query_as(
            "SELECT account_id, session_hash, alive_until, report FROM live_tests \
             WHERE run_key = $1",
        )
        .bind(run_key)
        .fetch_optional(pool)
        .await)?;
        row.map(|r| {
            Ok(LiveTestRecord {
                report: decode(r.report.as_deref(), || {
                    format!("live test {run_key}: report")
                })?,
                account_id: r.account_id,
                session_hash: r.session_hash,
                alive_until: r.alive_until,
            })
        })
        .transpose()
    }

    /// The run's stage events after its first `after`, in order.
    pub async fn live_test_events(
        &self,
        run_key: &str,
        after: usize,
    ) -> Result<Vec<StageEvent>, StorageError> {
        let rows: Vec<EventRow> = on_db!(self, pool => sqlx::query_as(
            "SELECT stage, status, millis, detail FROM live_test_events \
             WHERE run_key = $1 AND seq >= $2 ORDER BY seq",
        )
        .bind(run_key)
        .bind(i64::try_from(after).unwrap_or(i64::MAX))
        .fetch_all(pool)
        .await)?;
        Ok(rows
            .into_iter()
            .map(|r| StageEvent {
                stage: r.stage,
                status: r.status,
                millis: u64::try_from(r.millis).unwrap_or(0),
                detail: r.detail,
            })
            .collect())
    }

    /// Whether a test of the account is going on any instance.
    pub async fn live_test_running(&self, account_id: &str) -> Result<bool, StorageError> {
        Ok(on_db!(self, pool => sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM live_tests WHERE account_id = $1 \
             AND finished_at IS NULL AND alive_until > $2)",
        )
        .bind(account_id)
        .bind(now_ms())
        .fetch_one(pool)
        .await)?)
    }
}
