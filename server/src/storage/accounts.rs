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
}
