//! The history of connection tests.

use sqlx::Row;

use super::{now, StorageError, Store};

impl Store {
    pub async fn insert_test(
        &self,
        account_id: &str,
        started_at: i64,
        ok: bool,
        report_json: &str,
    ) -> Result<i64, StorageError> {
        let r = sqlx::query(
            "INSERT INTO connection_tests (account_id, started_at, finished_at, ok, report) \
             VALUES (?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(account_id)
        .bind(started_at)
        .bind(now())
        .bind(ok)
        .bind(report_json)
        .fetch_one(&self.pool)
        .await?;
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
