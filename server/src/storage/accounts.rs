//! Mailbox accounts.

use mailkey_app::api::{AccountState, AccountSummary};
use sqlx::Row;

use super::{StorageError, Store};

impl Store {
    pub async fn list_accounts(&self) -> Result<Vec<AccountSummary>, StorageError> {
        let rows = sqlx::query(
            "SELECT id, name, email, state, updated_at FROM accounts ORDER BY name COLLATE NOCASE, id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                let state: String = r.get("state");
                Ok(AccountSummary {
                    id: r.get("id"),
                    name: r.get("name"),
                    email: r.get("email"),
                    state: AccountState::parse(&state)
                        .ok_or_else(|| StorageError::Corrupt(format!("account state {state:?}")))?,
                    updated_at: r.get("updated_at"),
                })
            })
            .collect()
    }

    /// Forgets an account for good: its row (the sealed client secret and refresh token with
    /// it), its sign-in attempts and its connection-test history. False if there was none.
    pub async fn delete_account(&self, id: &str) -> Result<bool, StorageError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM sign_in_attempts WHERE account_id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM connection_tests WHERE account_id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let gone = sqlx::query("DELETE FROM accounts WHERE id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            == 1;
        tx.commit().await?;
        Ok(gone)
    }
}
