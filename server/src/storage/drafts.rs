//! The wizard's drafts: one row per account in `accounts`, filled step by step.

use mailkey_app::{
    api::AccountState,
    draft::{AppDetails, AppSource, MailboxSettings},
    provider::Provider,
    sign_in::SignInProblem,
};

use super::{decode, encode, now, StorageError};

/// An account as stored, decoded here once: its steps' values, its app's source and its state
/// are typed, and a row that does not decode is one error ([`StorageError::Corrupt`], naming
/// the account and the column).
#[derive(Clone, Debug)]
pub struct DraftRecord {
    pub id: String,
    pub saved_step: u8,
    /// The Application details step's values (none saved yet: `None`).
    pub app: Option<AppDetails>,
    pub tenant_id: Option<String>,
    /// Sealed.
    pub client_secret: Option<Vec<u8>>,
    pub client_secret_set_at: Option<i64>,
    /// The Mailbox step's values (none saved yet: `None`).
    pub mailbox: Option<MailboxSettings>,
    pub provider: &'static Provider,
    pub app_source: AppSource,
    pub state: AccountState,
    /// Sealed.
    pub refresh_token: Option<Vec<u8>>,
    pub refresh_generation: i64,
    pub signed_in_as: Option<String>,
    pub signed_in_at: Option<i64>,
    /// Why the account needs attention, if a sign-in or a refresh said so.
    pub problem: Option<SignInProblem>,
    /// Refusals of the app's credentials in a row (the backoff grows with them).
    pub refresh_failures: i64,
    /// No refresh is sent before this time (seconds since the epoch).
    pub refresh_retry_at: Option<i64>,
    /// Bumped when the mailbox address or the app registration changes.
    pub identity_epoch: i64,
    /// The organisation's name.
    pub organisation: String,
}

/// The row as the database has it; [`DraftRecord`] is what it means.
#[derive(sqlx::FromRow)]
struct DraftRow {
    id: String,
    saved_step: i64,
    app_settings: Option<String>,
    tenant_id: Option<String>,
    client_secret: Option<Vec<u8>>,
    client_secret_set_at: Option<i64>,
    mailbox_settings: Option<String>,
    provider: String,
    app_source: String,
    state: String,
    refresh_token: Option<Vec<u8>>,
    refresh_generation: i64,
    signed_in_as: Option<String>,
    signed_in_at: Option<i64>,
    connection_problem: Option<String>,
    refresh_failures: i64,
    refresh_retry_at: Option<i64>,
    identity_epoch: i64,
    organisation: Option<String>,
}

impl TryFrom<DraftRow> for DraftRecord {
    type Error = StorageError;

    fn try_from(r: DraftRow) -> Result<DraftRecord, StorageError> {
        let bad = |column: &str, value: &str| {
            StorageError::Corrupt(format!("account {}: {column} {value:?}", r.id))
        };
        let app_source =
            AppSource::parse(&r.app_source).ok_or_else(|| bad("app_source", &r.app_source))?;
        let state = AccountState::parse(&r.state).ok_or_else(|| bad("state", &r.state))?;
        let provider = Provider::by_id(&r.provider).ok_or_else(|| bad("provider", &r.provider))?;
        let context = |column: &str| format!("account {}: {column}", r.id);
        Ok(DraftRecord {
            app: decode(r.app_settings.as_deref(), || context("app_settings"))?,
            mailbox: decode(r.mailbox_settings.as_deref(), || {
                context("mailbox_settings")
            })?,
            problem: decode(r.connection_problem.as_deref(), || {
                context("connection_problem")
            })?,
            saved_step: u8::try_from(r.saved_step.clamp(0, 255)).unwrap_or(u8::MAX),
            app_source,
            state,
            id: r.id,
            tenant_id: r.tenant_id,
            client_secret: r.client_secret,
            client_secret_set_at: r.client_secret_set_at,
            provider,
            refresh_token: r.refresh_token,
            refresh_generation: r.refresh_generation,
            signed_in_as: r.signed_in_as,
            signed_in_at: r.signed_in_at,
            refresh_failures: r.refresh_failures,
            refresh_retry_at: r.refresh_retry_at,
            identity_epoch: r.identity_epoch,
            organisation: r.organisation.unwrap_or_default(),
        })
    }
}

/// A change to the app-registration step. `client_secret: None` keeps the stored one.
pub struct AppUpdate<'a> {
    pub app: &'a AppDetails,
    pub tenant_id: Option<&'a str>,
    pub client_secret: Option<Vec<u8>>,
    /// The client ID, tenant or endpoints changed: the refresh token belongs to the old app.
    pub identity_changed: bool,
}

/// What saving the app step did.
pub struct AppSaved {
    pub found: bool,
    /// A sign-in of the old app was dropped; the mailbox must sign in again.
    pub disconnected: bool,
}

pub struct MailboxSaved {
    pub found: bool,
    /// The address changed on a signed-in account, which now needs a new sign-in.
    pub disconnected: bool,
}

/// A new account's row: where it belongs and which app it signs in with.
pub struct NewDraftRecord<'a> {
    pub id: &'a str,
    pub provider: &'a str,
    pub app_source: mailkey_app::draft::AppSource,
    pub organisation_id: &'a str,
    pub external_id: Option<&'a str>,
}

/// What inserting a draft did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Inserted {
    New(String),
    /// An account with the same external ID was there already: its ID.
    Existing(String),
    /// The organisation does not exist (any more): deleted, on this instance or another, while
    /// the account was being made.
    NoOrganisation,
}

/// A change to the mailbox step; name and e-mail are also columns, for the list.
pub struct MailboxUpdate<'a> {
    pub name: &'a str,
    pub email: &'a str,
    pub mailbox: &'a MailboxSettings,
}

/// Locks the account's row for the rest of `tx`: a change that reads the row's state (is it
/// connected?) and then changes who may sign in (the identity epoch) must not interleave with a
/// sign-in being stored, or the sign-in could land for the old mailbox under the new settings.
/// (SQLite: [`Store::begin_write`] already holds the write lock.)
async fn lock_account(tx: &mut super::Tx, id: &str) -> Result<(), StorageError> {
    let _: Option<String> = on_tx!(tx, c, dialect => sqlx::query_scalar(&format!(
        "SELECT id FROM accounts WHERE id = $1{}",
        dialect.for_update()
    ))
    .bind(id)
    .fetch_optional(c)
    .await)?;
    Ok(())
}

/// An account's row as the wizard writes it: its app registration and mailbox settings.
#[async_trait::async_trait]
pub trait DraftStore: Send + Sync + std::fmt::Debug {
    /// A new draft in an organisation. With the host's `external_id`, an account that already
    /// has it there is kept and answered instead (`false`): creating is idempotent on it.
    async fn insert_draft(&self, d: &NewDraftRecord<'_>) -> Result<Inserted, StorageError>;

    /// Fills in the name and address a host gave at creation, before the mailbox step is saved
    /// (the wizard shows them there).
    async fn prefill_mailbox(&self, id: &str, m: MailboxUpdate<'_>) -> Result<bool, StorageError>;

    async fn draft(&self, id: &str) -> Result<Option<DraftRecord>, StorageError>;

    /// Records that `step` was completed; the saved step never goes backwards.
    async fn mark_step(&self, id: &str, step: u8) -> Result<bool, StorageError>;

    /// Saves the app step. A new client secret clears the refresh backoff (the next refresh
    /// tries it at once); a new client ID, tenant or endpoints ends the connection, since the
    /// refresh token belongs to the old app.
    /// The preset mailbox of an account whose mailbox is the account that signs in (no
    /// address yet): the step counts as saved and the account is ready to sign in.
    async fn set_default_mailbox(
        &self,
        id: &str,
        step: u8,
        mailbox: &MailboxSettings,
    ) -> Result<bool, StorageError>;

    /// The mailbox learnt at its first sign-in (an account that named none): the address, and
    /// the name when none was given. Only if the account is still what the sign-in was for.
    async fn adopt_mailbox(
        &self,
        id: &str,
        account_epoch: i64,
        name: &str,
        email: &str,
        mailbox: &MailboxSettings,
    ) -> Result<bool, StorageError>;

    async fn update_app(
        &self,
        id: &str,
        step: u8,
        update: AppUpdate<'_>,
    ) -> Result<AppSaved, StorageError>;

    /// The tenant of an account on the operator's app, discovered from its mailbox's domain
    /// before any sign-in (`None`: not known until the sign-in's ID token says).
    async fn set_operator_tenant(
        &self,
        id: &str,
        tenant_id: Option<&str>,
    ) -> Result<(), StorageError>;

    /// The tenant of an own app registration whose tenant was left empty, found from the
    /// mailbox's domain (no sign-in can have happened without one).
    async fn set_discovered_tenant(&self, id: &str, tenant_id: &str) -> Result<(), StorageError>;

    /// Saves the mailbox step. A new address ends the connection: the refresh token belongs to
    /// the old mailbox, so it is dropped and the account must sign in again. Returns whether
    /// the account exists and whether it was disconnected.
    async fn update_mailbox(
        &self,
        id: &str,
        step: u8,
        update: MailboxUpdate<'_>,
    ) -> Result<MailboxSaved, StorageError>;

    /// Other accounts using this address (case-insensitive), as (id, name).
    async fn accounts_with_email(
        &self,
        email: &str,
        except_id: &str,
    ) -> Result<Vec<(String, String)>, StorageError>;

    /// One stored ciphertext and its row, to prove at start that the master key fits.
    async fn any_sealed_secret(&self) -> Result<Option<(String, Vec<u8>)>, StorageError>;

    /// Any stored refresh token and its account: an account on the operator's app has no secret
    /// of its own, so this may be all that the master key protects.
    async fn any_refresh_token(&self) -> Result<Option<(String, Vec<u8>)>, StorageError>;
}

per_database! {
    impl DraftStore {
        async fn insert_draft(&self, d: &NewDraftRecord<'_>) -> Result<Inserted, StorageError> {
            let t = now();
            // Only into an organisation that exists: on PostgreSQL its row is share-locked, so
            // an organisation being deleted on another instance is waited for and then left
            // out, rather than left with an account nobody can reach.
            let done = on_db!(self, pool, dialect => sqlx::query(&format!(
                "INSERT INTO accounts (id, name, email, state, provider, app_source, organisation_id, \
                 external_id, created_at, updated_at) \
                 SELECT $1, '', '', 'draft', $2, $3, o.id, $5, $6, $7 FROM organisations o \
                 WHERE o.id = $4{} \
                 ON CONFLICT DO NOTHING",
                dialect.key_share("o")
            ))
            .bind(d.id)
            .bind(d.provider)
            .bind(d.app_source.as_str())
            .bind(d.organisation_id)
            .bind(d.external_id)
            .bind(t)
            .bind(t)
            .execute(pool)
            .await.map(|r| r.rows_affected()))?;
            if done == 1 {
                return Ok(Inserted::New(d.id.to_string()));
            }
            let existing: Option<String> = on_db!(self, pool => sqlx::query_scalar(
                "SELECT id FROM accounts WHERE organisation_id = $1 AND external_id = $2",
            )
            .bind(d.organisation_id)
            .bind(d.external_id)
            .fetch_optional(pool)
            .await)?;
            if let Some(id) = existing {
                return Ok(Inserted::Existing(id));
            }
            let organisation: Option<String> = on_db!(self, pool => sqlx::query_scalar(
                "SELECT id FROM organisations WHERE id = $1",
            )
            .bind(d.organisation_id)
            .fetch_optional(pool)
            .await)?;
            match organisation {
                None => Ok(Inserted::NoOrganisation),
                Some(_) => Err(StorageError::Corrupt(format!("account {} not inserted", d.id))),
            }
        }

        async fn prefill_mailbox(
            &self,
            id: &str,
            m: MailboxUpdate<'_>,
        ) -> Result<bool, StorageError> {
            let done = on_db!(self, pool => sqlx::query(
                "UPDATE accounts SET name = $1, email = $2, mailbox_settings = $3, updated_at = $4 \
                 WHERE id = $5 AND mailbox_settings IS NULL",
            )
            .bind(m.name)
            .bind(m.email)
            .bind(encode(m.mailbox)?)
            .bind(now())
            .bind(id)
            .execute(pool)
            .await.map(|r| r.rows_affected()))?;
            Ok(done == 1)
        }

        async fn draft(&self, id: &str) -> Result<Option<DraftRecord>, StorageError> {
            let row: Option<DraftRow> = on_db!(self, pool => sqlx::query_as(
                "SELECT id, saved_step, app_settings, tenant_id, client_secret, client_secret_set_at, \
                 mailbox_settings, provider, app_source, state, refresh_token, refresh_generation, signed_in_as, \
                 signed_in_at, connection_problem, refresh_failures, refresh_retry_at, identity_epoch, \
                 (SELECT name FROM organisations o WHERE o.id = accounts.organisation_id) AS organisation \
                 FROM accounts WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(pool)
            .await)?;
            row.map(DraftRecord::try_from).transpose()
        }

        async fn mark_step(&self, id: &str, step: u8) -> Result<bool, StorageError> {
            let done = on_db!(self, pool => sqlx::query(
                "UPDATE accounts SET saved_step = CASE WHEN saved_step > $1 THEN saved_step ELSE $1 END, updated_at = $2 WHERE id = $3",
            )
            .bind(i64::from(step))
            .bind(now())
            .bind(id)
            .execute(pool)
            .await.map(|r| r.rows_affected()))?;
            Ok(done == 1)
        }

        async fn set_default_mailbox(
            &self,
            id: &str,
            step: u8,
            mailbox: &MailboxSettings,
        ) -> Result<bool, StorageError> {
            let done = on_db!(self, pool => sqlx::query(
                "UPDATE accounts SET mailbox_settings = $1, saved_step = CASE WHEN saved_step > $2 THEN saved_step ELSE $2 END, \
                   state = CASE WHEN state = 'draft' THEN 'ready_to_sign_in' ELSE state END, \
                   updated_at = $3 \
                 WHERE id = $4 AND mailbox_settings IS NULL",
            )
            .bind(encode(mailbox)?)
            .bind(i64::from(step))
            .bind(now())
            .bind(id)
            .execute(pool)
            .await.map(|r| r.rows_affected()))?;
            Ok(done == 1)
        }

        async fn adopt_mailbox(
            &self,
            id: &str,
            account_epoch: i64,
            name: &str,
            email: &str,
            mailbox: &MailboxSettings,
        ) -> Result<bool, StorageError> {
            let done = on_db!(self, pool => sqlx::query(
                "UPDATE accounts SET email = $1, name = CASE WHEN name = '' THEN $2 ELSE name END, \
                   mailbox_settings = $3, updated_at = $4 \
                 WHERE id = $5 AND identity_epoch = $6 AND email = ''",
            )
            .bind(email)
            .bind(name)
            .bind(encode(mailbox)?)
            .bind(now())
            .bind(id)
            .bind(account_epoch)
            .execute(pool)
            .await.map(|r| r.rows_affected()))?;
            Ok(done == 1)
        }

        async fn update_app(
            &self,
            id: &str,
            step: u8,
            update: AppUpdate<'_>,
        ) -> Result<AppSaved, StorageError> {
            let t = now();
            let mut tx = self.begin_write().await?;
            lock_account(&mut tx, id).await?;
            let disconnected = update.identity_changed
                && on_tx!(&mut tx, c => sqlx::query(
                    "UPDATE accounts SET refresh_token = NULL, refresh_generation = refresh_generation + 1, \
                   access_token = NULL, access_expires_at = NULL, \
                       signed_in_as = NULL, signed_in_at = NULL, refreshed_at = NULL, \
                       connection_problem = NULL, attention_since = NULL, refresh_failures = 0, \
                       refresh_retry_at = NULL, state = 'ready_to_sign_in', updated_at = $1 \
                     WHERE id = $2 AND (refresh_token IS NOT NULL OR state IN ('connected', 'needs_attention'))",
                )
                .bind(t)
                .bind(id)
                .execute(c)
                .await.map(|r| r.rows_affected()))?
                    == 1;
            if disconnected {
                disconnected_event(&mut tx, id, "app_changed", "The account's app registration changed: the mailbox must sign in again with the new app.").await?;
            }
            let new_secret = update.client_secret.is_some();
            let done = on_tx!(&mut tx, c => sqlx::query(
                "UPDATE accounts SET app_settings = $1, tenant_id = $2, \
                   client_secret = COALESCE($3, client_secret), \
                   client_secret_set_at = CASE WHEN $4 IS NULL THEN client_secret_set_at ELSE $5 END, \
                   refresh_retry_at = CASE WHEN $6 THEN NULL ELSE refresh_retry_at END, \
                   refresh_failures = CASE WHEN $7 THEN 0 ELSE refresh_failures END, \
                   attention_since = CASE WHEN $8 AND attention_since IS NOT NULL THEN $9 \
                     ELSE attention_since END, \
                   identity_epoch = identity_epoch + $10, \
                   saved_step = CASE WHEN saved_step > $11 THEN saved_step ELSE $11 END, updated_at = $12 \
                 WHERE id = $13",
            )
            .bind(encode(update.app)?)
            .bind(update.tenant_id)
            .bind(update.client_secret.as_deref())
            .bind(update.client_secret.as_deref())
            .bind(t)
            .bind(new_secret)
            .bind(new_secret)
            .bind(new_secret)
            .bind(t)
            .bind(i64::from(update.identity_changed))
            .bind(i64::from(step))
            .bind(t)
            .bind(id)
            .execute(c)
            .await.map(|r| r.rows_affected()))?;
            tx.commit().await?;
            Ok(AppSaved {
                found: done == 1,
                disconnected,
            })
        }

        async fn set_operator_tenant(
            &self,
            id: &str,
            tenant_id: Option<&str>,
        ) -> Result<(), StorageError> {
            on_db!(self, pool => sqlx::query(
                "UPDATE accounts SET tenant_id = $1, updated_at = $2 \
                 WHERE id = $3 AND app_source = 'operator'",
            )
            .bind(tenant_id)
            .bind(now())
            .bind(id)
            .execute(pool)
            .await.map(|r| r.rows_affected()))?;
            Ok(())
        }

        async fn set_discovered_tenant(
            &self,
            id: &str,
            tenant_id: &str,
        ) -> Result<(), StorageError> {
            on_db!(self, pool => sqlx::query(
                "UPDATE accounts SET tenant_id = $1, updated_at = $2 WHERE id = $3 AND tenant_id IS NULL",
            )
            .bind(tenant_id)
            .bind(now())
            .bind(id)
            .execute(pool)
            .await.map(|r| r.rows_affected()))?;
            Ok(())
        }

        async fn update_mailbox(
            &self,
            id: &str,
            step: u8,
            update: MailboxUpdate<'_>,
        ) -> Result<MailboxSaved, StorageError> {
            let mut tx = self.begin_write().await?;
            lock_account(&mut tx, id).await?;
            let t = now();
            let disconnected = on_tx!(&mut tx, c => sqlx::query(
                "UPDATE accounts SET refresh_token = NULL, refresh_generation = refresh_generation + 1, \
                   access_token = NULL, access_expires_at = NULL, \
                   signed_in_as = NULL, signed_in_at = NULL, refreshed_at = NULL, \
                   connection_problem = NULL, attention_since = NULL, refresh_failures = 0, \
                   refresh_retry_at = NULL, state = 'ready_to_sign_in', updated_at = $1 \
                 WHERE id = $2 AND lower(email) <> lower($3) \
                   AND (refresh_token IS NOT NULL OR state IN ('connected', 'needs_attention'))",
            )
            .bind(t)
            .bind(id)
            .bind(update.email)
            .execute(c)
            .await.map(|r| r.rows_affected()))?
                == 1;
            if disconnected {
                disconnected_event(
                    &mut tx,
                    id,
                    "mailbox_changed",
                    "The account's mailbox address changed: the new mailbox must sign in.",
                )
                .await?;
            }
            // The epoch is bumped with the old address still in the row: an address change means
            // a sign-in started before it is for another mailbox.
            let found = on_tx!(&mut tx, c => sqlx::query(
                "UPDATE accounts SET name = $1, email = $2, mailbox_settings = $3, \
                   identity_epoch = identity_epoch + CASE WHEN lower(email) <> lower($4) THEN 1 ELSE 0 END, \
                   saved_step = CASE WHEN saved_step > $5 THEN saved_step ELSE $5 END, updated_at = $6, \
                   state = CASE WHEN state = 'draft' THEN 'ready_to_sign_in' ELSE state END \
                 WHERE id = $7",
            )
            .bind(update.name)
            .bind(update.email)
            .bind(encode(update.mailbox)?)
            .bind(update.email)
            .bind(i64::from(step))
            .bind(t)
            .bind(id)
            .execute(c)
            .await.map(|r| r.rows_affected()))?
                == 1;
            tx.commit().await?;
            Ok(MailboxSaved {
                found,
                disconnected,
            })
        }

        async fn accounts_with_email(
            &self,
            email: &str,
            except_id: &str,
        ) -> Result<Vec<(String, String)>, StorageError> {
            Ok(on_db!(self, pool => sqlx::query_as(
                "SELECT id, name FROM accounts WHERE lower(email) = lower($1) AND id <> $2 ORDER BY name",
            )
            .bind(email)
            .bind(except_id)
            .fetch_all(pool)
            .await)?)
        }

        async fn any_sealed_secret(&self) -> Result<Option<(String, Vec<u8>)>, StorageError> {
            Ok(on_db!(self, pool => sqlx::query_as(
                "SELECT id, client_secret FROM accounts WHERE client_secret IS NOT NULL LIMIT 1",
            )
            .fetch_optional(pool)
            .await)?)
        }

        async fn any_refresh_token(&self) -> Result<Option<(String, Vec<u8>)>, StorageError> {
            Ok(on_db!(self, pool => sqlx::query_as(
                "SELECT id, refresh_token FROM accounts WHERE refresh_token IS NOT NULL LIMIT 1",
            )
            .fetch_optional(pool)
            .await)?)
        }
    }
}

/// A saved change that ended the connection: the host hears `account.needs_reconnect`.
async fn disconnected_event(
    tx: &mut super::Tx,
    id: &str,
    code: &str,
    reason: &str,
) -> Result<(), StorageError> {
    let event = super::webhooks::NewEvent {
        reason_code: Some(code),
        reason: Some(reason),
        ..super::webhooks::NewEvent::about(
            mailkey_app::webhooks::EventType::AccountNeedsReconnect,
            id,
        )
    };
    super::webhooks::record_event(tx, &event).await?;
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use mailkey_app::{draft::Step, provider::MICROSOFT_365};

    use super::*;
    use crate::storage::Store;
    use crate::storage::DEFAULT_ORGANISATION;

    pub(crate) async fn store_with_account(dir: &tempfile::TempDir) -> Store {
        let store = crate::storage::testing::store(dir.path()).await;
        store
            .insert_draft(&NewDraftRecord {
                id: "acc1",
                provider: MICROSOFT_365.id,
                app_source: AppSource::Own,
                organisation_id: DEFAULT_ORGANISATION,
                external_id: None,
            })
            .await
            .unwrap();
        store
    }

    #[tokio::test]
    async fn the_steps_values_come_back_as_they_were_saved() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with_account(&dir).await;
        let mut mailbox = MailboxSettings::preset(&MICROSOFT_365);
        mailbox.email = "invoices@contoso.com".into();
        mailbox.imap_port = "993".into();
        let saved = store
            .update_mailbox(
                "acc1",
                Step::Mailbox.number(),
                MailboxUpdate {
                    name: "Invoices",
                    email: &mailbox.email,
                    mailbox: &mailbox,
                },
            )
            .await
            .unwrap();
        assert!(saved.found);
        let r = store.draft("acc1").await.unwrap().unwrap();
        assert_eq!(r.mailbox.as_ref(), Some(&mailbox));
        assert_eq!(r.app, None);
        assert_eq!(r.app_source, AppSource::Own);
        assert_eq!(r.state, AccountState::ReadyToSignIn);
        assert_eq!(r.problem, None);
        assert_eq!(r.organisation, "Default organisation");
    }

    /// The app step's values are stored without the secret (it is sealed in a column of its
    /// own), and come back as saved, with an operator account's source and a problem.
    #[tokio::test]
    async fn the_app_step_is_stored_without_its_secret() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with_account(&dir).await;
        let app = AppDetails {
            tenant: "contoso.com".into(),
            client_id: "11111111-2222-3333-4444-555555555555".into(),
            app_name: "Invoices".into(),
            client_secret: "Sup3r~secret.value".into(),
            secret_expires: "2099-12-31".into(),
            ..AppDetails::default()
        };
        let saved = store
            .update_app(
                "acc1",
                Step::AppDetails.number(),
                AppUpdate {
                    app: &app,
                    tenant_id: None,
                    client_secret: Some(b"sealed".to_vec()),
                    identity_changed: false,
                },
            )
            .await
            .unwrap();
        assert!(saved.found);
        let raw = store
            .text_raw("SELECT app_settings FROM accounts WHERE id = 'acc1'")
            .await
            .unwrap();
        assert!(
            !raw.contains("Sup3r"),
            "the secret is not in the JSON: {raw}"
        );
        let problem = SignInProblem {
            code: Some(65001),
            title: "Consent needed".into(),
            what: String::new(),
            why: String::new(),
            fix: String::new(),
            step: None,
            admin_consent: true,
            sign_in_again_as: None,
            detail: None,
        };
        store
            .execute_raw(&format!(
                "UPDATE accounts SET app_source = 'operator', state = 'needs_attention', \
                 connection_problem = '{}' WHERE id = 'acc1'",
                encode(&problem).unwrap().replace('\'', "''")
            ))
            .await;
        let r = store.draft("acc1").await.unwrap().unwrap();
        let back = r.app.unwrap();
        assert_eq!(
            (back.client_id.as_str(), back.client_secret.as_str()),
            (app.client_id.as_str(), "")
        );
        assert_eq!(r.client_secret.as_deref(), Some(&b"sealed"[..]));
        assert_eq!(r.app_source, AppSource::Operator);
        assert_eq!(r.state, AccountState::NeedsAttention);
        assert_eq!(
            r.problem.map(|p| p.title),
            Some("Consent needed".to_string())
        );
    }

    /// However a row came to hold what this version cannot read, it is one error that names
    /// the account and the column, never a panic or a half-read record.
    #[tokio::test]
    async fn a_row_that_does_not_decode_is_one_error_naming_the_account_and_the_column() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with_account(&dir).await;
        for (set, column) in [
            ("mailbox_settings = '{\"email\": 1'", "mailbox_settings"),
            ("app_settings = '[]'", "app_settings"),
            ("connection_problem = 'null x'", "connection_problem"),
            // (`state` has a CHECK constraint: the database refuses a wrong one itself.)
            ("app_source = 'borrowed'", "app_source"),
            ("provider = 'gmail-2009'", "provider"),
        ] {
            store
                .execute_raw(&format!(
                    "UPDATE accounts SET mailbox_settings = NULL, app_settings = NULL, \
                     connection_problem = NULL, state = 'draft', app_source = 'own', \
                     provider = 'microsoft365'; \
                     UPDATE accounts SET {set} WHERE id = 'acc1'"
                ))
                .await;
            match store.draft("acc1").await {
                Err(StorageError::Corrupt(m)) => {
                    assert!(m.contains("acc1") && m.contains(column), "{column}: {m}")
                }
                other => panic!("{column}: {other:?}"),
            }
        }
    }
}
