//! Connection tests while they run, kept in the database so that any instance can show a run
//! another instance drives: who may watch it, whether its driver is still alive, its stage
//! events in order and, once done, its report.

use mailkey_app::mail_test::{StageEvent, StageId, StageStatus, TestReport};

use super::{decode, encode, now_ms, StorageError};

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

/// A budget of connection tests: `burst` at once, then one more every `every_ms`.
#[derive(Clone, Copy, Debug)]
pub struct TestBudget {
    pub burst: u32,
    pub every_ms: i64,
}

/// Connection tests while they run, stage by stage (watched from any instance), and each account's test budget.
#[async_trait::async_trait]
pub trait LiveTestStore: Send + Sync + std::fmt::Debug {
    /// Spends one of the account's connection tests: `None` when spent, else how many
    /// milliseconds until one is back. The budget is kept on the account's row (GCRA: the time
    /// the next test would be on schedule), spent by one conditional statement, so every
    /// instance spends from it and two spending together cannot both take the last one. An
    /// account that does not exist has nothing to spend: `None` (its caller says 404).
    async fn spend_test_budget(
        &self,
        account_id: &str,
        budget: TestBudget,
    ) -> Result<Option<i64>, StorageError>;

    /// Starts a run of the account's test unless one is still going (a finished report not
    /// yet written and a driver alive): `false` then. Drops runs finished long ago, and runs
    /// whose driver died as long ago, on the way.
    async fn begin_live_test(
        &self,
        run_key: &str,
        account_id: &str,
        session_hash: &[u8],
        alive_until: i64,
    ) -> Result<bool, StorageError>;

    /// The run's `seq`-th stage event (from 0).
    async fn add_live_test_event(
        &self,
        run_key: &str,
        seq: i64,
        event: &StageEvent,
    ) -> Result<(), StorageError>;

    /// Says the run's driver is alive until `alive_until` (ms).
    async fn keep_live_test_alive(
        &self,
        run_key: &str,
        alive_until: i64,
    ) -> Result<(), StorageError>;

    async fn finish_live_test(
        &self,
        run_key: &str,
        report: &TestReport,
    ) -> Result<(), StorageError>;

    async fn live_test(&self, run_key: &str) -> Result<Option<LiveTestRecord>, StorageError>;

    /// The run's stage events after its first `after`, in order.
    async fn live_test_events(
        &self,
        run_key: &str,
        after: usize,
    ) -> Result<Vec<StageEvent>, StorageError>;

    /// Whether a test of the account is going on any instance.
    async fn live_test_running(&self, account_id: &str) -> Result<bool, StorageError>;
}

per_database! {
    impl LiveTestStore {
        async fn spend_test_budget(
            &self,
            account_id: &str,
            budget: TestBudget,
        ) -> Result<Option<i64>, StorageError> {
            let t = now_ms();
            // How far ahead of schedule a test may be: the burst less the one being taken.
            let slack = i64::from(budget.burst.saturating_sub(1)) * budget.every_ms;
            let spent: u64 = on_db!(self, pool, dialect => sqlx::query(&format!(
                "UPDATE accounts SET tests_due_at = {}(COALESCE(tests_due_at, 0), $1) + $2 \
                 WHERE id = $3 AND COALESCE(tests_due_at, 0) <= $1 + $4",
                dialect.greatest()
            ))
            .bind(t)
            .bind(budget.every_ms)
            .bind(account_id)
            .bind(slack)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
            if spent == 1 {
                return Ok(None);
            }
            let due: Option<Option<i64>> = on_db!(self, pool => sqlx::query_scalar(
                "SELECT tests_due_at FROM accounts WHERE id = $1",
            )
            .bind(account_id)
            .fetch_optional(pool)
            .await)?;
            Ok(due.flatten().map(|due| (due - slack - t).max(1)))
        }

        async fn begin_live_test(
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

        async fn add_live_test_event(
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

        async fn keep_live_test_alive(
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

        async fn finish_live_test(
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

        async fn live_test(&self, run_key: &str) -> Result<Option<LiveTestRecord>, StorageError> {
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

        async fn live_test_events(
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

        async fn live_test_running(&self, account_id: &str) -> Result<bool, StorageError> {
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
}

#[cfg(test)]
mod tests {
    use mailkey_app::{draft::AppSource, provider::MICROSOFT_365};

    use super::*;
    use crate::storage::Store;
    use crate::storage::{NewDraftRecord, DEFAULT_ORGANISATION};

    const BUDGET: TestBudget = TestBudget {
        burst: 5,
        every_ms: 60_000,
    };

    /// Two instances (two pools on one database) spending an account's tests at once take
    /// five between them, then both are told how long until the next one; another account's
    /// budget is its own.
    #[tokio::test]
    async fn an_accounts_test_budget_is_one_for_every_instance() {
        let dir = tempfile::tempdir().unwrap();
        let location = crate::storage::testing::location(dir.path()).await;
        let a = Store::connect(&location).await.unwrap();
        let b = Store::connect(&location).await.unwrap();
        for id in ["acc1", "acc2"] {
            a.insert_draft(&NewDraftRecord {
                id,
                provider: MICROSOFT_365.id,
                app_source: AppSource::Own,
                organisation_id: DEFAULT_ORGANISATION,
                external_id: None,
            })
            .await
            .unwrap();
        }
        let spends: Vec<_> = (0..12)
            .map(|i| {
                let store = if i % 2 == 0 { a.clone() } else { b.clone() };
                tokio::spawn(async move { store.spend_test_budget("acc1", BUDGET).await })
            })
            .collect();
        let mut waits = Vec::new();
        for s in spends {
            waits.push(s.await.unwrap().unwrap());
        }
        assert_eq!(waits.iter().filter(|w| w.is_none()).count(), 5, "{waits:?}");
        for wait in waits.into_iter().flatten() {
            assert!((1..=60_000).contains(&wait), "{wait}");
        }
        assert_eq!(b.spend_test_budget("acc2", BUDGET).await.unwrap(), None);
        assert_eq!(b.spend_test_budget("nosuch", BUDGET).await.unwrap(), None);
    }
}
