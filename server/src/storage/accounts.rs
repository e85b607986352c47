//! Mailbox accounts.

use mailkey_app::{
    api::{AccountState, AccountSummary},
    draft::{AppDetails, AppSource},
    sign_in::SignInProblem,
};

use super::StorageError;

/// Which accounts a list shows: each `None` is "any".
#[derive(Clone, Debug, Default)]
pub struct AccountFilter<'a> {
    pub id: Option<&'a str>,
    pub organisation: Option<&'a str>,
    pub state: Option<AccountState>,
    pub external_id: Option<&'a str>,
    /// Only those after this one in creation order (a page's cursor).
    pub after: Option<Cursor>,
    /// At most this many.
    pub limit: Option<u32>,
}

/// A place in the accounts' creation order: stable while accounts come and go, unlike an offset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cursor {
    pub created_at: i64,
    pub id: String,
}

impl Cursor {
    /// The opaque form a caller passes back: `<created_at>.<id>`.
    pub fn encode(&self) -> String {
        format!("{}.{}", self.created_at, self.id)
    }

    pub fn decode(s: &str) -> Option<Cursor> {
        let (t, id) = s.split_once('.')?;
        let ok = !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric());
        ok.then(|| {
            Some(Cursor {
                created_at: t.parse().ok()?,
                id: id.to_string(),
            })
        })
        .flatten()
    }
}

/// What the token endpoint needs of an account besides its token.
#[derive(Clone, Debug)]
pub struct TokenViewRecord {
    pub organisation_id: String,
    pub email: String,
    pub mailbox: Option<mailkey_app::draft::MailboxSettings>,
}

/// An account as the lists read it.
#[derive(sqlx::FromRow)]
struct SummaryRow {
    id: String,
    name: String,
    email: String,
    state: String,
    created_at: i64,
    updated_at: i64,
    connection_problem: Option<String>,
    app_settings: Option<String>,
    app_source: String,
    organisation_id: String,
    external_id: Option<String>,
    organisation_name: String,
}

impl SummaryRow {
    fn decode(r: SummaryRow) -> Result<AccountSummary, StorageError> {
        let id = r.id;
        let state = AccountState::parse(&r.state)
            .ok_or_else(|| StorageError::Corrupt(format!("account {id}: state {:?}", r.state)))?;
        let problem = super::decode::<SignInProblem>(
            r.connection_problem
                .as_deref()
                .filter(|_| state == AccountState::NeedsAttention),
            || format!("account {id}: connection_problem"),
        )?
        .map(|p| p.title);
        // Only an account's own registration has a secret of its own to expire.
        let own = AppSource::parse(&r.app_source).ok_or_else(|| {
            StorageError::Corrupt(format!("account {id}: app_source {:?}", r.app_source))
        })? == AppSource::Own;
        let secret_expires =
            super::decode::<AppDetails>(r.app_settings.as_deref().filter(|_| own), || {
                format!("account {id}: app_settings")
            })?
            .map(|a| a.secret_expires.trim().to_string())
            .filter(|e| !e.is_empty());
        Ok(AccountSummary {
            id,
            name: r.name,
            email: r.email,
            state,
            created_at: r.created_at,
            updated_at: r.updated_at,
            problem,
            secret_expires,
            organisation_id: r.organisation_id,
            organisation_name: r.organisation_name,
            external_id: r.external_id,
        })
    }
}

/// Accounts as the host and the portal list them, and their deletion.
#[async_trait::async_trait]
pub trait AccountStore: Send + Sync + std::fmt::Debug {
    async fn token_view(&self, id: &str) -> Result<Option<TokenViewRecord>, StorageError>;

    /// Every account, by name (the portal's and the CLI's list).
    async fn list_accounts(&self) -> Result<Vec<AccountSummary>, StorageError>;

    async fn account_summary(&self, id: &str) -> Result<Option<AccountSummary>, StorageError>;

    /// The accounts a filter selects (an organisation, a state, the host's external ID), in
    /// creation order.
    async fn accounts_where(
        &self,
        f: &AccountFilter<'_>,
    ) -> Result<Vec<AccountSummary>, StorageError>;

    /// The accounts an operator may mean by `term`: its ID, or its name or e-mail address (either
    /// case-insensitive). Several for a name two accounts share.
    async fn accounts_matching(&self, term: &str) -> Result<Vec<AccountSummary>, StorageError>;

    /// A sign-in that failed for an account not connected yet: it needs attention, and says why,
    /// in the list and on its page, until a sign-in works. A connected account's sign-in still
    /// works, so a failed new attempt does not change its state.
    async fn mark_sign_in_failed(
        &self,
        account_id: &str,
        problem: &mailkey_app::sign_in::SignInProblem,
    ) -> Result<(), StorageError>;

    /// A not-yet-connected account's sign-in problem is over (consent was granted): it is
    /// ready to sign in again.
    async fn clear_sign_in_problem(&self, account_id: &str) -> Result<(), StorageError>;

    /// Forgets an account for good: its row (the sealed client secret and refresh token with
    /// it), its sign-in attempts and its connection-test history. False if there was none.
    /// Records `account.deleted`.
    async fn delete_account(&self, id: &str) -> Result<bool, StorageError>;

    /// Forgets a draft whose creation was refused: nobody outside ever heard of it, so no event.
    async fn discard_draft(&self, id: &str) -> Result<bool, StorageError>;
}

per_database! {
    impl AccountStore {
        async fn token_view(&self, id: &str) -> Result<Option<TokenViewRecord>, StorageError> {
            let row: Option<(String, String, Option<String>)> = on_db!(self, pool => sqlx::query_as(
                "SELECT organisation_id, email, mailbox_settings FROM accounts WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(pool)
            .await)?;
            row.map(|(organisation_id, email, mailbox)| {
                Ok(TokenViewRecord {
                    mailbox: super::decode(mailbox.as_deref(), || {
                        format!("account {id}: mailbox_settings")
                    })?,
                    organisation_id,
                    email,
                })
            })
            .transpose()
        }

        async fn list_accounts(&self) -> Result<Vec<AccountSummary>, StorageError> {
            let mut all = self.accounts_where(&AccountFilter::default()).await?;
            all.sort_by_cached_key(|a| (a.name.to_lowercase(), a.id.clone()));
            Ok(all)
        }

        async fn account_summary(&self, id: &str) -> Result<Option<AccountSummary>, StorageError> {
            let f = AccountFilter {
                id: Some(id),
                ..AccountFilter::default()
            };
            Ok(self.accounts_where(&f).await?.pop())
        }

        async fn accounts_where(
            &self,
            f: &AccountFilter<'_>,
        ) -> Result<Vec<AccountSummary>, StorageError> {
            let (after_t, after_id) = match &f.after {
                Some(c) => (Some(c.created_at), Some(c.id.as_str())),
                None => (None, None),
            };
            let rows: Vec<SummaryRow> = on_db!(self, pool => sqlx::query_as(
                "SELECT a.id, a.name, a.email, a.state, a.created_at, a.updated_at, \
                   a.connection_problem, a.app_settings, a.app_source, a.organisation_id, \
                   a.external_id, COALESCE(o.name, '') AS organisation_name \
                 FROM accounts a LEFT JOIN organisations o ON o.id = a.organisation_id \
                 WHERE ($1 IS NULL OR a.id = $1) AND ($2 IS NULL OR a.organisation_id = $2) \
                   AND ($3 IS NULL OR a.state = $3) AND ($4 IS NULL OR a.external_id = $4) \
                   AND ($5 IS NULL OR a.created_at > $5 OR (a.created_at = $5 AND a.id > $6)) \
                 ORDER BY a.created_at, a.id LIMIT $7",
            )
            .bind(f.id)
            .bind(f.organisation)
            .bind(f.state.map(AccountState::as_str))
            .bind(f.external_id)
            .bind(after_t)
            .bind(after_id)
            // No limit: as many as a signed 64-bit count holds (PostgreSQL refuses a negative one).
            .bind(f.limit.map_or(i64::MAX, i64::from))
            .fetch_all(pool)
            .await)?;
            rows.into_iter().map(SummaryRow::decode).collect()
        }

        async fn accounts_matching(&self, term: &str) -> Result<Vec<AccountSummary>, StorageError> {
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

        async fn mark_sign_in_failed(
            &self,
            account_id: &str,
            problem: &mailkey_app::sign_in::SignInProblem,
        ) -> Result<(), StorageError> {
            let t = super::now();
            on_db!(self, pool => sqlx::query(
                "UPDATE accounts SET state = 'needs_attention', connection_problem = $1, \
                   attention_since = COALESCE(attention_since, $2), updated_at = $3 \
                 WHERE id = $4 AND refresh_token IS NULL \
                   AND state IN ('ready_to_sign_in', 'needs_attention')",
            )
            .bind(super::encode(problem)?)
            .bind(t)
            .bind(t)
            .bind(account_id)
            .execute(pool)
            .await.map(|r| r.rows_affected()))?;
            Ok(())
        }

        async fn clear_sign_in_problem(&self, account_id: &str) -> Result<(), StorageError> {
            on_db!(self, pool => sqlx::query(
                "UPDATE accounts SET state = 'ready_to_sign_in', connection_problem = NULL, \
                   attention_since = NULL, updated_at = $1 \
                 WHERE id = $2 AND refresh_token IS NULL AND state = 'needs_attention'",
            )
            .bind(super::now())
            .bind(account_id)
            .execute(pool)
            .await.map(|r| r.rows_affected()))?;
            Ok(())
        }

        async fn delete_account(&self, id: &str) -> Result<bool, StorageError> {
            // Reads the accounts (for their events), then deletes: taken for writing at once.
            let mut tx = self.begin_write().await?;
            let gone = delete_accounts(&mut tx, Accounts::One(id), true).await? == 1;
            tx.commit().await?;
            Ok(gone)
        }

        async fn discard_draft(&self, id: &str) -> Result<bool, StorageError> {
            let mut tx = self.begin().await?;
            let gone = delete_accounts(&mut tx, Accounts::One(id), false).await? == 1;
            tx.commit().await?;
            Ok(gone)
        }
    }
}

/// Which accounts [`delete_accounts`] forgets.
pub(super) enum Accounts<'a> {
    One(&'a str),
    OfOrganisation(&'a str),
}

/// Forgets accounts with everything that refers to them (the one list of an account's
/// dependent tables), inside the caller's transaction, recording `account.deleted` for each
/// when `announce`. How many accounts went.
pub(super) async fn delete_accounts(
    tx: &mut super::Tx,
    which: Accounts<'_>,
    announce: bool,
) -> Result<u64, StorageError> {
    let (selected, value) = match which {
        Accounts::One(id) => ("id = $1", id),
        Accounts::OfOrganisation(org) => ("organisation_id = $1", org),
    };
    if announce {
        let ids: Vec<String> = on_tx!(tx, c, dialect => sqlx::query_scalar(&format!("SELECT id FROM accounts WHERE {selected}{}", dialect.for_update()))
                .bind(value)
                .fetch_all(c)
                .await)?;
        for id in &ids {
            let event = super::webhooks::NewEvent::about(
                mailkey_app::webhooks::EventType::AccountDeleted,
                id,
            );
            super::webhooks::record_event(tx, &event).await?;
        }
    }
    for table in ["sign_in_attempts", "connection_tests"] {
        on_tx!(tx, c => sqlx::query(&format!(
            "DELETE FROM {table} WHERE account_id IN (SELECT id FROM accounts WHERE {selected})"
        ))
        .bind(value)
        .execute(c)
        .await.map(|r| r.rows_affected()))?;
    }
    Ok(
        on_tx!(tx, c => sqlx::query(&format!("DELETE FROM accounts WHERE {selected}"))
            .bind(value)
            .execute(c)
            .await.map(|r| r.rows_affected()))?,
    )
}
