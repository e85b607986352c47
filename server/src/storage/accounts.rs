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

    /// The accounts an operator may mean by `term`: its ID, or its name or e-mail address (either
    /// case-insensitive). Several for a name two accounts share.
    pub async fn accounts_matching(&self, term: &str) -> Result<Vec<AccountSummary>, StorageError> {
        let term = term.trim();
        Ok(self
            .list_accounts()
            .await?
            .into_iter()
            .filter(|a| {
                a.id == term
                    || a.name.eq_ignore_ascii_case(term)
                    || a.email.eq_ignore_ascii_case(term)
            })
            .collect())
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
