//! The history of connection tests.

use mailkey_app::{
    mail_test::{FolderMapping, TestReport},
    webhooks::EventType,
};

use super::{
    decode, encode, now,
    webhooks::{record_event, NewEvent},
    StorageError,
};

/// A kept connection test, its report decoded.
#[derive(Clone, Debug)]
pub struct TestRunRecord {
    pub id: i64,
    pub started_at: i64,
    pub ok: bool,
    pub report: TestReport,
}

/// Why a test failed, for its `account.connection_test_failed` event.
pub struct TestFailure<'a> {
    pub code: &'a str,
    pub title: &'a str,
}

/// Finished connection tests, and the IMAP folders a test uses.
#[async_trait::async_trait]
pub trait TestHistoryStore: Send + Sync + std::fmt::Debug {
    /// Keeps a finished test; a failed one (`failure`) records its event with it.
    async fn insert_test(
        &self,
        account_id: &str,
        started_at: i64,
        failure: Option<TestFailure<'_>>,
        report: &TestReport,
    ) -> Result<i64, StorageError>;

    /// The account's latest tests, newest first. A run whose report this version cannot read
    /// is left out (and logged): one old report must not take the history, the folders it
    /// proposes and the next run's wording with it.
    async fn tests(&self, account_id: &str, limit: i64)
        -> Result<Vec<TestRunRecord>, StorageError>;

    async fn folder_mapping(&self, account_id: &str)
        -> Result<Option<FolderMapping>, StorageError>;

    async fn set_folder_mapping(
        &self,
        account_id: &str,
        mapping: &FolderMapping,
    ) -> Result<bool, StorageError>;
}

per_database! {
    impl TestHistoryStore {
        async fn insert_test(
            &self,
            account_id: &str,
            started_at: i64,
            failure: Option<TestFailure<'_>>,
            report: &TestReport,
        ) -> Result<i64, StorageError> {
            let mut tx = self.begin().await?;
            let id: i64 = on_tx!(&mut tx, c => sqlx::query_scalar(
                "INSERT INTO connection_tests (account_id, started_at, finished_at, ok, report) \
                 VALUES ($1, $2, $3, $4, $5) RETURNING id",
            )
            .bind(account_id)
            .bind(started_at)
            .bind(now())
            .bind(failure.is_none())
            .bind(encode(report)?)
            .fetch_one(c)
            .await)?;
            if let Some(f) = failure {
                let event = NewEvent {
                    reason_code: Some(f.code),
                    reason: Some(f.title),
                    ..NewEvent::about(EventType::ConnectionTestFailed, account_id)
                };
                record_event(&mut tx, &event).await?;
            }
            tx.commit().await?;
            Ok(id)
        }

        async fn tests(
            &self,
            account_id: &str,
            limit: i64,
        ) -> Result<Vec<TestRunRecord>, StorageError> {
            let rows: Vec<(i64, i64, bool, String)> = on_db!(self, pool => sqlx::query_as(
                "SELECT id, started_at, ok, report FROM connection_tests WHERE account_id = $1 \
                 ORDER BY id DESC LIMIT $2",
            )
            .bind(account_id)
            .bind(limit)
            .fetch_all(pool)
            .await)?;
            Ok(rows
                .into_iter()
                .filter_map(|(id, started_at, ok, report)| {
                    match decode(Some(&report), || format!("connection test {id}: report")) {
                        Ok(Some(report)) => Some(TestRunRecord {
                            id,
                            started_at,
                            ok,
                            report,
                        }),
                        Ok(None) => None,
                        Err(e) => {
                            tracing::warn!(account = %account_id, error = %e, "a kept connection test is left out");
                            None
                        }
                    }
                })
                .collect())
        }

        async fn folder_mapping(
            &self,
            account_id: &str,
        ) -> Result<Option<FolderMapping>, StorageError> {
            let json = on_db!(self, pool => sqlx::query_scalar::<_, Option<String>>(
                "SELECT folder_mapping FROM accounts WHERE id = $1",
            )
            .bind(account_id)
            .fetch_optional(pool)
            .await)?
            .flatten();
            decode(json.as_deref(), || {
                format!("account {account_id}: folder_mapping")
            })
        }

        async fn set_folder_mapping(
            &self,
            account_id: &str,
            mapping: &FolderMapping,
        ) -> Result<bool, StorageError> {
            let done = on_db!(self, pool => sqlx::query("UPDATE accounts SET folder_mapping = $1, updated_at = $2 WHERE id = $3")
                    .bind(encode(mapping)?)
                    .bind(now())
                    .bind(account_id)
                    .execute(pool)
                    .await.map(|r| r.rows_affected()))?;
            Ok(done == 1)
        }
    }
}
