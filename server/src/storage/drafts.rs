//! The wizard's drafts: one row per account in `accounts`, filled step by step.

use sqlx::Row;

use super::{now, StorageError, Store};

/// An account's draft as stored. JSON columns stay text here: the layer above owns their shape.
#[derive(Clone, Debug)]
pub struct DraftRecord {
    pub id: String,
    pub saved_step: u8,
    pub app_settings: Option<String>,
    pub tenant_id: Option<String>,
    pub client_secret: Option<Vec<u8>>,
    pub client_secret_set_at: Option<i64>,
    pub mailbox_settings: Option<String>,
    pub provider: String,
    /// `own` or `operator` (see migration 0007).
    pub app_source: String,
    pub state: String,
    pub refresh_token: Option<Vec<u8>>,
    pub refresh_generation: i64,
    pub signed_in_as: Option<String>,
    pub signed_in_at: Option<i64>,
    pub connection_problem: Option<String>,
    /// Refusals of the app's credentials in a row (the backoff grows with them).
    pub refresh_failures: i64,
    /// No refresh is sent before this time (seconds since the epoch).
    pub refresh_retry_at: Option<i64>,
    /// Bumped when the mailbox address or the app registration changes.
    pub identity_epoch: i64,
    /// The organisation's name.
    pub organisation: String,
}

/// A change to the app-registration step. `client_secret: None` keeps the stored one.
pub struct AppUpdate<'a> {
    pub app_settings: &'a str,
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
}

/// A change to the mailbox step; name and e-mail are also columns, for the list.
pub struct MailboxUpdate<'a> {
    pub name: &'a str,
    pub email: &'a str,
    pub mailbox_settings: &'a str,
}

impl Store {
    /// A new draft in an organisation. With the host's `external_id`, an account that already
    /// has it there is kept and answered instead (`false`): creating is idempotent on it.
    pub async fn insert_draft(&self, d: &NewDraftRecord<'_>) -> Result<Inserted, StorageError> {
        let t = now();
        let done = sqlx::query(
            "INSERT INTO accounts (id, name, email, state, provider, app_source, organisation_id, \
             external_id, created_at, updated_at) VALUES (?, '', '', 'draft', ?, ?, ?, ?, ?, ?) \
             ON CONFLICT DO NOTHING",
        )
        .bind(d.id)
        .bind(d.provider)
        .bind(d.app_source.as_str())
        .bind(d.organisation_id)
        .bind(d.external_id)
        .bind(t)
        .bind(t)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 1 {
            return Ok(Inserted::New(d.id.to_string()));
        }
        let existing: Option<String> = sqlx::query_scalar(
            "SELECT id FROM accounts WHERE organisation_id = ? AND external_id = ?",
        )
        .bind(d.organisation_id)
        .bind(d.external_id)
        .fetch_optional(&self.pool)
        .await?;
        existing
            .map(Inserted::Existing)
            .ok_or_else(|| StorageError::Corrupt(format!("account {} not inserted", d.id)))
    }

    /// Fills in the name and address a host gave at creation, before the mailbox step is saved
    /// (the wizard shows them there).
    pub async fn prefill_mailbox(
        &self,
        id: &str,
        m: MailboxUpdate<'_>,
    ) -> Result<bool, StorageError> {
        let done = sqlx::query(
            "UPDATE accounts SET name = ?, email = ?, mailbox_settings = ?, updated_at = ? \
             WHERE id = ? AND mailbox_settings IS NULL",
        )
        .bind(m.name)
        .bind(m.email)
        .bind(m.mailbox_settings)
        .bind(now())
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn draft(&self, id: &str) -> Result<Option<DraftRecord>, StorageError> {
        let row = sqlx::query(
            "SELECT id, saved_step, app_settings, tenant_id, client_secret, client_secret_set_at, \
             mailbox_settings, provider, app_source, state, refresh_token, refresh_generation, signed_in_as, \
             signed_in_at, connection_problem, refresh_failures, refresh_retry_at, identity_epoch, \
             (SELECT name FROM organisations o WHERE o.id = accounts.organisation_id) AS organisation \
             FROM accounts WHERE id = ?",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| DraftRecord {
            id: r.get("id"),
            saved_step: r.get::<i64, _>("saved_step").clamp(0, 255) as u8,
            app_settings: r.get("app_settings"),
            tenant_id: r.get("tenant_id"),
            client_secret: r.get("client_secret"),
            client_secret_set_at: r.get("client_secret_set_at"),
            mailbox_settings: r.get("mailbox_settings"),
            provider: r.get("provider"),
            app_source: r.get("app_source"),
            state: r.get("state"),
            refresh_token: r.get("refresh_token"),
            refresh_generation: r.get("refresh_generation"),
            signed_in_as: r.get("signed_in_as"),
            signed_in_at: r.get("signed_in_at"),
            connection_problem: r.get("connection_problem"),
            refresh_failures: r.get("refresh_failures"),
            refresh_retry_at: r.get("refresh_retry_at"),
            identity_epoch: r.get("identity_epoch"),
            organisation: r
                .get::<Option<String>, _>("organisation")
                .unwrap_or_default(),
        }))
    }

    /// Records that `step` was completed; the saved step never goes backwards.
    pub async fn mark_step(&self, id: &str, step: u8) -> Result<bool, StorageError> {
        let done = sqlx::query(
            "UPDATE accounts SET saved_step = MAX(saved_step, ?), updated_at = ? WHERE id = ?",
        )
        .bind(i64::from(step))
        .bind(now())
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Saves the app step. A new client secret clears the refresh backoff (the next refresh
    /// tries it at once); a new client ID, tenant or endpoints ends the connection, since the
    /// refresh token belongs to the old app.
    /// The preset mailbox of an account whose mailbox is the account that signs in (no
    /// address yet): the step counts as saved and the account is ready to sign in.
    pub async fn set_default_mailbox(
        &self,
        id: &str,
        step: u8,
        mailbox_settings: &str,
    ) -> Result<bool, StorageError> {
        let done = sqlx::query(
            "UPDATE accounts SET mailbox_settings = ?, saved_step = MAX(saved_step, ?), \
               state = CASE WHEN state = 'draft' THEN 'ready_to_sign_in' ELSE state END, \
               updated_at = ? \
             WHERE id = ? AND mailbox_settings IS NULL",
        )
        .bind(mailbox_settings)
        .bind(i64::from(step))
        .bind(now())
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The mailbox learnt at its first sign-in (an account that named none): the address, and
    /// the name when none was given. Only if the account is still what the sign-in was for.
    pub async fn adopt_mailbox(
        &self,
        id: &str,
        account_epoch: i64,
        name: &str,
        email: &str,
        mailbox_settings: &str,
    ) -> Result<bool, StorageError> {
        let done = sqlx::query(
            "UPDATE accounts SET email = ?, name = CASE WHEN name = '' THEN ? ELSE name END, \
               mailbox_settings = ?, updated_at = ? \
             WHERE id = ? AND identity_epoch = ? AND email = ''",
        )
        .bind(email)
        .bind(name)
        .bind(mailbox_settings)
        .bind(now())
        .bind(id)
        .bind(account_epoch)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn update_app(
        &self,
        id: &str,
        step: u8,
        update: AppUpdate<'_>,
    ) -> Result<AppSaved, StorageError> {
        let t = now();
        let mut tx = self.pool.begin().await?;
        let disconnected = update.identity_changed
            && sqlx::query(
                "UPDATE accounts SET refresh_token = NULL, refresh_generation = refresh_generation + 1, \
                   signed_in_as = NULL, signed_in_at = NULL, refreshed_at = NULL, \
                   connection_problem = NULL, attention_since = NULL, refresh_failures = 0, \
                   refresh_retry_at = NULL, state = 'ready_to_sign_in', updated_at = ? \
                 WHERE id = ? AND (refresh_token IS NOT NULL OR state IN ('connected', 'needs_attention'))",
            )
            .bind(t)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
        if disconnected {
            disconnected_event(&mut tx, id, "app_changed", "The account's app registration changed: the mailbox must sign in again with the new app.").await?;
        }
        let new_secret = update.client_secret.is_some();
        let done = sqlx::query(
            "UPDATE accounts SET app_settings = ?, tenant_id = ?, \
               client_secret = COALESCE(?, client_secret), \
               client_secret_set_at = CASE WHEN ? IS NULL THEN client_secret_set_at ELSE ? END, \
               refresh_retry_at = CASE WHEN ? THEN NULL ELSE refresh_retry_at END, \
               refresh_failures = CASE WHEN ? THEN 0 ELSE refresh_failures END, \
               attention_since = CASE WHEN ? AND attention_since IS NOT NULL THEN ? \
                 ELSE attention_since END, \
               identity_epoch = identity_epoch + ?, \
               saved_step = MAX(saved_step, ?), updated_at = ? \
             WHERE id = ?",
        )
        .bind(update.app_settings)
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
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(AppSaved {
            found: done.rows_affected() == 1,
            disconnected,
        })
    }

    /// The tenant of an account on the operator's app, discovered from its mailbox's domain
    /// before any sign-in (`None`: not known until the sign-in's ID token says).
    pub async fn set_operator_tenant(
        &self,
        id: &str,
        tenant_id: Option<&str>,
    ) -> Result<(), StorageError> {
        sqlx::query(
            "UPDATE accounts SET tenant_id = ?, updated_at = ? \
             WHERE id = ? AND app_source = 'operator'",
        )
        .bind(tenant_id)
        .bind(now())
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The tenant of an own app registration whose tenant was left empty, found from the
    /// mailbox's domain (no sign-in can have happened without one).
    pub async fn set_discovered_tenant(
        &self,
        id: &str,
        tenant_id: &str,
    ) -> Result<(), StorageError> {
        sqlx::query(
            "UPDATE accounts SET tenant_id = ?, updated_at = ? WHERE id = ? AND tenant_id IS NULL",
        )
        .bind(tenant_id)
        .bind(now())
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Saves the mailbox step. A new address ends the connection: the refresh token belongs to
    /// the old mailbox, so it is dropped and the account must sign in again. Returns whether
    /// the account exists and whether it was disconnected.
    pub async fn update_mailbox(
        &self,
        id: &str,
        step: u8,
        update: MailboxUpdate<'_>,
    ) -> Result<MailboxSaved, StorageError> {
        let mut tx = self.pool.begin().await?;
        let t = now();
        let disconnected = sqlx::query(
            "UPDATE accounts SET refresh_token = NULL, refresh_generation = refresh_generation + 1, \
               signed_in_as = NULL, signed_in_at = NULL, refreshed_at = NULL, \
               connection_problem = NULL, attention_since = NULL, refresh_failures = 0, \
               refresh_retry_at = NULL, state = 'ready_to_sign_in', updated_at = ? \
             WHERE id = ? AND email <> ? COLLATE NOCASE \
               AND (refresh_token IS NOT NULL OR state IN ('connected', 'needs_attention'))",
        )
        .bind(t)
        .bind(id)
        .bind(update.email)
        .execute(&mut *tx)
        .await?
        .rows_affected()
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
        let found = sqlx::query(
            "UPDATE accounts SET name = ?, email = ?, mailbox_settings = ?, \
               identity_epoch = identity_epoch + (email <> ? COLLATE NOCASE), \
               saved_step = MAX(saved_step, ?), updated_at = ?, \
               state = CASE WHEN state = 'draft' THEN 'ready_to_sign_in' ELSE state END \
             WHERE id = ?",
        )
        .bind(update.name)
        .bind(update.email)
        .bind(update.mailbox_settings)
        .bind(update.email)
        .bind(i64::from(step))
        .bind(t)
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        tx.commit().await?;
        Ok(MailboxSaved {
            found,
            disconnected,
        })
    }

    /// Other accounts using this address (case-insensitive), as (id, name).
    pub async fn accounts_with_email(
        &self,
        email: &str,
        except_id: &str,
    ) -> Result<Vec<(String, String)>, StorageError> {
        let rows = sqlx::query(
            "SELECT id, name FROM accounts WHERE email = ? COLLATE NOCASE AND id <> ? ORDER BY name",
        )
        .bind(email)
        .bind(except_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| (r.get("id"), r.get("name")))
            .collect())
    }

    /// One stored ciphertext and its row, to prove at start that the master key fits.
    pub async fn any_sealed_secret(&self) -> Result<Option<(String, Vec<u8>)>, StorageError> {
        let row = sqlx::query(
            "SELECT id, client_secret FROM accounts WHERE client_secret IS NOT NULL LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| (r.get("id"), r.get("client_secret"))))
    }

    /// Any stored refresh token and its account: an account on the operator's app has no secret
    /// of its own, so this may be all that the master key protects.
    pub async fn any_refresh_token(&self) -> Result<Option<(String, Vec<u8>)>, StorageError> {
        let row = sqlx::query(
            "SELECT id, refresh_token FROM accounts WHERE refresh_token IS NOT NULL LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| (r.get("id"), r.get("refresh_token"))))
    }
}

/// A saved change that ended the connection: the host hears `account.needs_reconnect`.
async fn disconnected_event(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
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
