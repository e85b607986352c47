//! The history of connection tests.

use sqlx::Row;

use mailkey_app::webhooks::EventType;

use super::{
    now,
    webhooks::{record_event, NewEvent},
    StorageError, Store,
};

/// Why a test failed, for its `account.connection_test_failed` event.
pub struct TestFailure<'a> {
    pub code: &'a str,
    pub title: &'a str,
}

impl Store {
    /// Keeps a finished test; a failed one (`failure`) records its event with it.
    pub async fn insert_test(
        &self,
        account_id: &str,
        started_at: i64,
        failure: Option<TestFailure<'_>>,
        report_json: &str,
    ) -> Result<i64, StorageError> {
        let mut tx = self.pool.begin().await?;
        let r = sqlx::query(
            "INSERT INTO connection_tests (account_id, started_at, finished_at, ok, report) \
             VALUES (?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(account_id)
        .bind(started_at)
        .bind(now())
        .bind(failure.is_none())
        .bind(report_json)
        .fetch_one(&mut *tx)
        .await?;
        if let Some(f) = failure {
            let event = NewEvent {
                reason_code: Some(f.code),
                reason: Some(f.title),
                ..NewEvent::about(EventType::ConnectionTestFailed, account_id)
            };
            record_event(&mut tx, &event).await?;
        }
        tx.commit().await?;
        Ok(r.get(0))
    }

    /// The account's latest tests, newest first: (id, started_at, ok, report JSON).
    pub async fn tests(
        &self,
        account_id: &str,
        limit: i64,
    ) -> Result<Vec<(i64, i64, bool, String)>, StorageError> {
        let rows = sqlx::query(
            "SELECT id, started_at, ok, report FROM connection_tests WHERE account_id = ? \
             ORDER BY id DESC LIMIT ?",
        )
        .bind(account_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                (
                    r.get("id"),
                    r.get("started_at"),
                    r.get("ok"),
                    r.get("report"),
                )
            })
            .collect())
    }
}

impl Store {
    pub async fn folder_mapping(&self, account_id: &str) -> Result<Option<String>, StorageError> {
        Ok(sqlx::query_scalar::<_, Option<String>>(
            "SELECT folder_mapping FROM accounts WHERE id = ?",
        )
        .bind(account_id)
        .fetch_optional(&self.pool)
        .await?
        .flatten())
    }

    pub async fn set_folder_mapping(
        &self,
        account_id: &str,
        mapping_json: &str,
    ) -> Result<bool, StorageError> {
        let done =
            sqlx::query("UPDATE accounts SET folder_mapping = ?, updated_at = ? WHERE id = ?")
                .bind(mapping_json)
                .bind(now())
                .bind(account_id)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() == 1)
    }
}
