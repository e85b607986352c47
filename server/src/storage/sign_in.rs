//! Sign-in attempts (one per authorization request) and the connection they leave behind: the
//! sealed refresh token and who signed in.

use mailkey_app::{
    sign_in::{SignInOutcome, SignInProblem},
    webhooks::EventType,
};

use super::{
    now, now_ms,
    webhooks::{record_event, NewEvent},
    StorageError,
};

/// How a sign-in comes back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignInMode {
    /// In a popup: the callback tells the opener and closes.
    Popup,
    /// In the same tab: the callback returns to the wizard.
    Redirect,
    /// An admin-consent link sent to the organisation's administrator: finished in their
    /// browser, which gets a page of its own.
    Shared,
}

impl SignInMode {
    pub fn as_str(self) -> &'static str {
        match self {
            SignInMode::Popup => "popup",
            SignInMode::Redirect => "redirect",
            SignInMode::Shared => "shared",
        }
    }
}

impl TryFrom<String> for SignInMode {
    type Error = String;

    fn try_from(s: String) -> Result<SignInMode, String> {
        [SignInMode::Popup, SignInMode::Redirect, SignInMode::Shared]
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| format!("unknown sign-in mode {s:?}"))
    }
}

/// What a sign-in is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignInPurpose {
    SignIn,
    AdminConsent,
}

impl SignInPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            SignInPurpose::SignIn => "sign_in",
            SignInPurpose::AdminConsent => "admin_consent",
        }
    }
}

impl TryFrom<String> for SignInPurpose {
    type Error = String;

    fn try_from(s: String) -> Result<SignInPurpose, String> {
        [SignInPurpose::SignIn, SignInPurpose::AdminConsent]
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| format!("unknown sign-in purpose {s:?}"))
    }
}

/// The latest finished sign-in of a browser for an account.
#[derive(Clone, Debug)]
pub struct LatestOutcome {
    /// Its row number: tells one attempt from the next, even within a second.
    pub row: i64,
    pub finished_at: i64,
    pub outcome: SignInOutcome,
}

pub struct NewAttempt<'a> {
    pub state_hash: &'a [u8],
    pub account_id: &'a str,
    pub session_hash: &'a [u8],
    pub purpose: SignInPurpose,
    pub mode: SignInMode,
    pub sealed_verifier: &'a [u8],
    pub nonce: &'a str,
    pub lifetime_secs: i64,
    /// The account's identity epoch when the sign-in started.
    pub account_epoch: i64,
}

#[derive(Clone, Debug)]
pub struct AttemptRecord {
    pub account_id: String,
    pub purpose: SignInPurpose,
    pub mode: SignInMode,
    pub sealed_verifier: Vec<u8>,
    pub nonce: String,
    pub account_epoch: i64,
}

/// Why a presented `state` was not accepted, or the attempt it opens (now used).
#[derive(Debug)]
pub enum Claim {
    Unknown,
    AlreadyUsed,
    Expired,
    /// Started by another browser (operator session).
    OtherBrowser,
    /// An admin-consent link sent to an administrator, already used or too old: they get their
    /// own words, not the operator's.
    SharedLinkUsed,
    SharedLinkExpired,
    Claimed(AttemptRecord),
}

/// What a refresh wrote: the rotated refresh token (if one came) and the new access token,
/// both sealed, and when the access token expires.
pub struct Refreshed<'a> {
    pub sealed_refresh_token: Option<&'a [u8]>,
    pub sealed_access_token: &'a [u8],
    pub access_expires_at: i64,
    /// The instance whose lease it was: only its own lease is let go (a holder that stalled
    /// past it must not end the lease of the instance that took over).
    pub lease_owner: &'a str,
}

/// What asking for an account's refresh lease found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lease {
    Taken,
    /// Another instance holds it and its time has not run out.
    HeldElsewhere,
    /// There is no such account (deleted meanwhile): nothing to wait for.
    NoAccount,
}

impl Lease {
    pub fn taken(self) -> bool {
        self == Lease::Taken
    }
}

/// An account's refresh as the other instances see it.
#[derive(Debug, sqlx::FromRow)]
pub struct SharedToken {
    pub generation: i64,
    pub sealed_access_token: Option<Vec<u8>>,
    pub access_expires_at: Option<i64>,
    pub access_obtained_ms: Option<i64>,
    /// The running lease's end (milliseconds), if one was taken.
    pub lease_until_ms: Option<i64>,
}

/// A sign-in attempt as stored.
#[derive(sqlx::FromRow)]
struct AttemptRow {
    account_id: String,
    session_hash: Vec<u8>,
    #[sqlx(try_from = "String")]
    purpose: SignInPurpose,
    #[sqlx(try_from = "String")]
    mode: SignInMode,
    pkce_verifier: Vec<u8>,
    nonce: String,
    expires_at: i64,
    used_at: Option<i64>,
    account_epoch: i64,
}

/// Sign-in attempts, and the tokens they leave: refresh leases and the generation compare-and-set.
#[async_trait::async_trait]
pub trait SignInStore: Send + Sync + std::fmt::Debug {
    async fn insert_attempt(&self, a: NewAttempt<'_>) -> Result<(), StorageError>;

    /// Uses an attempt once: checks its browser and age first, then marks it used atomically so
    /// two callbacks racing with one `state` cannot both pass.
    async fn claim_attempt(
        &self,
        state_hash: &[u8],
        session_hash: Option<&[u8]>,
    ) -> Result<Claim, StorageError>;

    async fn finish_attempt(
        &self,
        state_hash: &[u8],
        outcome: &SignInOutcome,
    ) -> Result<(), StorageError>;

    /// The latest finished attempt of this browser for the account.
    async fn latest_outcome(
        &self,
        account_id: &str,
        session_hash: &[u8],
    ) -> Result<Option<LatestOutcome>, StorageError>;

    /// A completed sign-in: the new sealed refresh token, who signed in, state `connected` —
    /// only if the account is still what the sign-in was started for (same identity epoch:
    /// neither its mailbox address nor its app changed meanwhile). `None` otherwise: nothing
    /// was stored. Records `account.connected` (the first sign-in) or `account.reconnected`.
    async fn store_connection(
        &self,
        account_id: &str,
        account_epoch: i64,
        sealed_refresh_token: &[u8],
        username: &str,
        tenant_id: Option<&str>,
    ) -> Result<Option<i64>, StorageError>;

    /// A successful refresh: the rotated refresh token (if one came), the access token (sealed,
    /// for the other instances) and the time, only if the refresh token is still the one read
    /// at `generation`: a holder whose lease ran out while another instance refreshed can never
    /// overwrite the newer token. False when a newer sign-in or refresh won. The lease is let
    /// go, the account is connected again and any earlier problem is cleared: a refusal of the
    /// app (a secret being rotated) ends with the first refresh that works.
    async fn record_refresh(
        &self,
        account_id: &str,
        generation: i64,
        refreshed: Refreshed<'_>,
    ) -> Result<bool, StorageError>;

    /// Takes the account's refresh lease for `owner` until `until_ms` (milliseconds since the
    /// epoch), if nobody else holds one that is still running. One statement: nothing is held
    /// while the holder waits on Microsoft, and a holder that died lets go by the clock.
    async fn take_refresh_lease(
        &self,
        account_id: &str,
        owner: &str,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<Lease, StorageError>;

    /// Lets go of `owner`'s lease (a refresh that ended without a new token).
    async fn release_refresh_lease(
        &self,
        account_id: &str,
        owner: &str,
    ) -> Result<(), StorageError>;

    /// What another instance's refresh left: its sealed access token and the lease.
    async fn shared_token(&self, account_id: &str) -> Result<Option<SharedToken>, StorageError>;

    /// Microsoft refused a refresh for good (`invalid_grant`: revoked, expired): the token is
    /// dropped and the account needs a new sign-in. Only if the token is still the one read at
    /// `generation`. Records `account.needs_reconnect` with the problem's title as the reason.
    async fn mark_sign_in_refused(
        &self,
        account_id: &str,
        generation: i64,
        problem: &SignInProblem,
    ) -> Result<bool, StorageError>;

    /// Microsoft refused the app's credentials (a wrong, expired or rotated secret): the
    /// refresh token is kept, the account needs an admin, and no refresh is tried again before
    /// `retry_at`. Only if the token is still the one read at `generation`, and no new secret
    /// reset the refusals (`failures` as read) while this refresh was under way with the old one.
    async fn mark_app_refused(
        &self,
        account_id: &str,
        generation: i64,
        failures: i64,
        problem: &SignInProblem,
        retry_at: i64,
    ) -> Result<bool, StorageError>;

    /// Microsoft asked Mailkey to wait (429, `Retry-After`): no refresh before `retry_at`; the
    /// account stays as it is.
    async fn defer_refresh(&self, account_id: &str, retry_at: i64) -> Result<(), StorageError>;

    /// The operator's app changed (a new secret saved): every account on it may refresh at once.
    async fn clear_operator_refresh_waits(&self, provider: &str) -> Result<u64, StorageError>;

    /// Accounts token upkeep should refresh now, oldest first: connected ones whose refresh
    /// token was last obtained before `before`, and those whose app was refused (refresh token
    /// kept) once their backoff is over, unless they have needed attention since before
    /// `attention_after`. Accounts Microsoft asked to wait are left until `retry_at`.
    async fn accounts_to_keep_alive(
        &self,
        before: i64,
        attention_after: i64,
        limit: i64,
    ) -> Result<Vec<String>, StorageError>;

    /// Whether the account is still due for upkeep: another round (or process) may have
    /// refreshed it since the list was read.
    async fn still_due(
        &self,
        id: &str,
        before: i64,
        attention_after: i64,
    ) -> Result<bool, StorageError>;
}

per_database! {
    impl SignInStore {
        async fn insert_attempt(&self, a: NewAttempt<'_>) -> Result<(), StorageError> {
            let t = now();
            // Old rows only matter for their outcome, which the wizard reads within minutes (a
            // shared link's, within its lifetime).
            on_db!(self, pool => sqlx::query("DELETE FROM sign_in_attempts WHERE expires_at < $1")
                .bind(t - 86_400)
                .execute(pool)
                .await.map(|r| r.rows_affected()))?;
            on_db!(self, pool => sqlx::query(
                "INSERT INTO sign_in_attempts (state_hash, account_id, session_hash, purpose, mode, \
                 pkce_verifier, nonce, created_at, expires_at, account_epoch) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(a.state_hash)
            .bind(a.account_id)
            .bind(a.session_hash)
            .bind(a.purpose.as_str())
            .bind(a.mode.as_str())
            .bind(a.sealed_verifier)
            .bind(a.nonce)
            .bind(t)
            .bind(t + a.lifetime_secs)
            .bind(a.account_epoch)
            .execute(pool)
            .await.map(|r| r.rows_affected()))?;
            Ok(())
        }

        async fn claim_attempt(
            &self,
            state_hash: &[u8],
            session_hash: Option<&[u8]>,
        ) -> Result<Claim, StorageError> {
            let Some(r): Option<AttemptRow> = on_db!(self, pool => sqlx::query_as(
                "SELECT account_id, session_hash, purpose, mode, pkce_verifier, nonce, expires_at, \
                 used_at, account_epoch FROM sign_in_attempts WHERE state_hash = $1",
            )
            .bind(state_hash)
            .fetch_optional(pool)
            .await)?
            else {
                return Ok(Claim::Unknown);
            };
            // A shared admin-consent link comes back in the administrator's browser.
            let shared = r.mode == SignInMode::Shared;
            if r.used_at.is_some() {
                return Ok(if shared {
                    Claim::SharedLinkUsed
                } else {
                    Claim::AlreadyUsed
                });
            }
            if !shared && session_hash != Some(r.session_hash.as_slice()) {
                return Ok(Claim::OtherBrowser);
            }
            let t = now();
            if r.expires_at <= t {
                return Ok(if shared {
                    Claim::SharedLinkExpired
                } else {
                    Claim::Expired
                });
            }
            let done = on_db!(self, pool => sqlx::query(
                "UPDATE sign_in_attempts SET used_at = $1 WHERE state_hash = $2 AND used_at IS NULL",
            )
            .bind(t)
            .bind(state_hash)
            .execute(pool)
            .await.map(|r| r.rows_affected()))?;
            if done != 1 {
                // Another callback with this state won the race.
                return Ok(if shared {
                    Claim::SharedLinkUsed
                } else {
                    Claim::AlreadyUsed
                });
            }
            Ok(Claim::Claimed(AttemptRecord {
                account_id: r.account_id,
                purpose: r.purpose,
                mode: r.mode,
                sealed_verifier: r.pkce_verifier,
                nonce: r.nonce,
                account_epoch: r.account_epoch,
            }))
        }

        async fn finish_attempt(
            &self,
            state_hash: &[u8],
            outcome: &SignInOutcome,
        ) -> Result<(), StorageError> {
            let outcome_json = super::encode(outcome)?;
            on_db!(self, pool => sqlx::query(
                "UPDATE sign_in_attempts SET finished_at = $1, outcome = $2 WHERE state_hash = $3",
            )
            .bind(now())
            .bind(outcome_json)
            .bind(state_hash)
            .execute(pool)
            .await.map(|r| r.rows_affected()))?;
            Ok(())
        }

        async fn latest_outcome(
            &self,
            account_id: &str,
            session_hash: &[u8],
        ) -> Result<Option<LatestOutcome>, StorageError> {
            // The row number: SQLite's own `rowid`; PostgreSQL's table numbers its rows in `seq`.
            let row: Option<(i64, i64, String)> = on_db!(self, pool, dialect => sqlx::query_as(&format!(
                "SELECT {seq}, finished_at, outcome FROM sign_in_attempts \
                 WHERE account_id = $1 AND session_hash = $2 AND finished_at IS NOT NULL \
                 ORDER BY finished_at DESC, {seq} DESC LIMIT 1",
                seq = dialect.row_number()
            ))
            .bind(account_id)
            .bind(session_hash)
            .fetch_optional(pool)
            .await)?;
            row.map(|(row, finished_at, outcome)| {
                Ok(LatestOutcome {
                    row,
                    finished_at,
                    outcome: super::decode(Some(&outcome), || {
                        format!("account {account_id}: a sign-in's outcome")
                    })?
                    .expect("a value was given"),
                })
            })
            .transpose()
        }

        async fn store_connection(
            &self,
            account_id: &str,
            account_epoch: i64,
            sealed_refresh_token: &[u8],
            username: &str,
            tenant_id: Option<&str>,
        ) -> Result<Option<i64>, StorageError> {
            let t = now();
            // Read, then write: taken for writing at once, so a commit by another connection in
            // between cannot fail the upgrade (SQLITE_BUSY_SNAPSHOT, which no busy timeout waits out).
            let mut tx = self.begin_write().await?;
            let signed_in_before: Option<Option<i64>> = on_tx!(&mut tx, c, dialect => sqlx::query_scalar(&format!("SELECT signed_in_at FROM accounts WHERE id = $1{}", dialect.for_update()))
                    .bind(account_id)
                    .fetch_optional(c)
                    .await)?;
            let r: Option<i64> = on_tx!(&mut tx, c => sqlx::query_scalar(
                "UPDATE accounts SET refresh_token = $1, refresh_generation = refresh_generation + 1, \
                   access_token = NULL, access_expires_at = NULL, \
                   signed_in_as = $2, signed_in_at = $3, refreshed_at = $4, \
                   tenant_id = COALESCE($5, tenant_id), connection_problem = NULL, \
                   attention_since = NULL, refresh_failures = 0, refresh_retry_at = NULL, \
                   state = 'connected', updated_at = $6 \
                 WHERE id = $7 AND identity_epoch = $8 RETURNING refresh_generation",
            )
            .bind(sealed_refresh_token)
            .bind(username)
            .bind(t)
            .bind(t)
            .bind(tenant_id)
            .bind(t)
            .bind(account_id)
            .bind(account_epoch)
            .fetch_optional(c)
            .await)?;
            if r.is_some() {
                let event = match signed_in_before.flatten() {
                    Some(_) => EventType::AccountReconnected,
                    None => EventType::AccountConnected,
                };
                record_event(&mut tx, &NewEvent::about(event, account_id)).await?;
            }
            tx.commit().await?;
            Ok(r)
        }

        async fn record_refresh(
            &self,
            account_id: &str,
            generation: i64,
            refreshed: Refreshed<'_>,
        ) -> Result<bool, StorageError> {
            let t = now();
            let done = on_db!(self, pool => sqlx::query(
                "UPDATE accounts SET refresh_token = COALESCE($1, refresh_token), \
                   refresh_generation = refresh_generation + CASE WHEN $1 IS NULL THEN 0 ELSE 1 END, \
                   access_token = $2, access_expires_at = $3, access_obtained_ms = $4, \
                   refresh_lease_until = CASE WHEN refresh_lease_owner = $8 THEN NULL \
                     ELSE refresh_lease_until END, \
                   refresh_lease_owner = CASE WHEN refresh_lease_owner = $8 THEN NULL \
                     ELSE refresh_lease_owner END, \
                   refreshed_at = $5, updated_at = $5, state = 'connected', connection_problem = NULL, \
                   attention_since = NULL, refresh_failures = 0, refresh_retry_at = NULL \
                 WHERE id = $6 AND refresh_generation = $7",
            )
            .bind(refreshed.sealed_refresh_token)
            .bind(refreshed.sealed_access_token)
            .bind(refreshed.access_expires_at)
            .bind(now_ms())
            .bind(t)
            .bind(account_id)
            .bind(generation)
            .bind(refreshed.lease_owner)
            .execute(pool)
            .await.map(|r| r.rows_affected()))?;
            Ok(done == 1)
        }

        async fn take_refresh_lease(
            &self,
            account_id: &str,
            owner: &str,
            now_ms: i64,
            until_ms: i64,
        ) -> Result<Lease, StorageError> {
            let done = on_db!(self, pool => sqlx::query(
                "UPDATE accounts SET refresh_lease_owner = $1, refresh_lease_until = $2 \
                 WHERE id = $3 AND (refresh_lease_until IS NULL OR refresh_lease_until <= $4 \
                   OR refresh_lease_owner = $1)",
            )
            .bind(owner)
            .bind(until_ms)
            .bind(account_id)
            .bind(now_ms)
            .execute(pool)
            .await.map(|r| r.rows_affected()))?;
            if done == 1 {
                return Ok(Lease::Taken);
            }
            // Only on the slow path: tells a lease to wait for from an account that is gone.
            let exists: i64 = on_db!(self, pool => sqlx::query_scalar(
                "SELECT COUNT(*) FROM accounts WHERE id = $1",
            )
            .bind(account_id)
            .fetch_one(pool)
            .await)?;
            Ok(if exists > 0 {
                Lease::HeldElsewhere
            } else {
                Lease::NoAccount
            })
        }

        async fn release_refresh_lease(
            &self,
            account_id: &str,
            owner: &str,
        ) -> Result<(), StorageError> {
            on_db!(self, pool => sqlx::query(
                "UPDATE accounts SET refresh_lease_owner = NULL, refresh_lease_until = NULL \
                 WHERE id = $1 AND refresh_lease_owner = $2",
            )
            .bind(account_id)
            .bind(owner)
            .execute(pool)
            .await.map(|r| r.rows_affected()))?;
            Ok(())
        }

        async fn shared_token(
            &self,
            account_id: &str,
        ) -> Result<Option<SharedToken>, StorageError> {
            Ok(on_db!(self, pool => sqlx::query_as(
                "SELECT refresh_generation AS generation, access_token AS sealed_access_token, \
                   access_expires_at, access_obtained_ms, refresh_lease_until AS lease_until_ms \
                 FROM accounts WHERE id = $1 AND refresh_token IS NOT NULL",
            )
            .bind(account_id)
            .fetch_optional(pool)
            .await)?)
        }

        async fn mark_sign_in_refused(
            &self,
            account_id: &str,
            generation: i64,
            problem: &SignInProblem,
        ) -> Result<bool, StorageError> {
            let t = now();
            let mut tx = self.begin().await?;
            let done = on_tx!(&mut tx, c => sqlx::query(
                "UPDATE accounts SET refresh_token = NULL, refresh_generation = refresh_generation + 1, \
                   access_token = NULL, access_expires_at = NULL, \
                   state = 'needs_attention', connection_problem = $1, \
                   attention_since = COALESCE(attention_since, $2), refresh_failures = 0, \
                   refresh_retry_at = NULL, updated_at = $3 \
                 WHERE id = $4 AND refresh_generation = $5",
            )
            .bind(super::encode(problem)?)
            .bind(t)
            .bind(t)
            .bind(account_id)
            .bind(generation)
            .execute(c)
            .await.map(|r| r.rows_affected()))?;
            let done = done == 1;
            if done {
                let event = NewEvent {
                    reason_code: Some("refresh_token_refused"),
                    reason: Some(&problem.title),
                    ..NewEvent::about(EventType::AccountNeedsReconnect, account_id)
                };
                record_event(&mut tx, &event).await?;
            }
            tx.commit().await?;
            Ok(done)
        }

        async fn mark_app_refused(
            &self,
            account_id: &str,
            generation: i64,
            failures: i64,
            problem: &SignInProblem,
            retry_at: i64,
        ) -> Result<bool, StorageError> {
            let t = now();
            let mut tx = self.begin_write().await?;
            let before: Option<String> = on_tx!(&mut tx, c, dialect => sqlx::query_scalar(&format!("SELECT state FROM accounts WHERE id = $1{}", dialect.for_update()))
                .bind(account_id)
                .fetch_optional(c)
                .await)?;
            let done = on_tx!(&mut tx, c => sqlx::query(
                "UPDATE accounts SET state = 'needs_attention', connection_problem = $1, \
                   attention_since = COALESCE(attention_since, $2), \
                   refresh_failures = refresh_failures + 1, refresh_retry_at = $3, updated_at = $4 \
                 WHERE id = $5 AND refresh_generation = $6 AND refresh_failures = $7",
            )
            .bind(super::encode(problem)?)
            .bind(t)
            .bind(retry_at)
            .bind(t)
            .bind(account_id)
            .bind(generation)
            .bind(failures)
            .execute(c)
            .await.map(|r| r.rows_affected()))?;
            let done = done == 1;
            // Once when it starts, not on every refused retry.
            if done && before.as_deref() != Some("needs_attention") {
                let event = NewEvent {
                    reason_code: Some("app_credentials_refused"),
                    reason: Some(&problem.title),
                    ..NewEvent::about(EventType::AccountAppRefused, account_id)
                };
                record_event(&mut tx, &event).await?;
            }
            tx.commit().await?;
            Ok(done)
        }

        async fn defer_refresh(&self, account_id: &str, retry_at: i64) -> Result<(), StorageError> {
            on_db!(self, pool => sqlx::query(
                "UPDATE accounts SET refresh_retry_at = CASE WHEN COALESCE(refresh_retry_at, 0) > $1 THEN refresh_retry_at ELSE $1 END \
                 WHERE id = $2",
            )
            .bind(retry_at)
            .bind(account_id)
            .execute(pool)
            .await.map(|r| r.rows_affected()))?;
            Ok(())
        }

        async fn clear_operator_refresh_waits(&self, provider: &str) -> Result<u64, StorageError> {
            let done = on_db!(self, pool => sqlx::query(
                "UPDATE accounts SET refresh_retry_at = NULL, refresh_failures = 0, \
                   attention_since = $1 \
                 WHERE app_source = 'operator' AND provider = $2 AND state = 'needs_attention' \
                   AND refresh_token IS NOT NULL",
            )
            .bind(now())
            .bind(provider)
            .execute(pool)
            .await.map(|r| r.rows_affected()))?;
            Ok(done)
        }

        async fn accounts_to_keep_alive(
            &self,
            before: i64,
            attention_after: i64,
            limit: i64,
        ) -> Result<Vec<String>, StorageError> {
            Ok(on_db!(self, pool => sqlx::query_scalar(&format!(
                "SELECT id FROM accounts WHERE {DUE} ORDER BY refreshed_at LIMIT $4"
            ))
            .bind(now())
            .bind(before)
            .bind(attention_after)
            .bind(limit)
            .fetch_all(pool)
            .await)?)
        }

        async fn still_due(
            &self,
            id: &str,
            before: i64,
            attention_after: i64,
        ) -> Result<bool, StorageError> {
            let row: Option<String> = on_db!(self, pool => sqlx::query_scalar(&format!("SELECT id FROM accounts WHERE {DUE} AND id = $4"))
                .bind(now())
                .bind(before)
                .bind(attention_after)
                .bind(id)
                .fetch_optional(pool)
                .await)?;
            Ok(row.is_some())
        }
    }
}

/// When an account is due for upkeep (binds: now, refreshed before, attention since after).
const DUE: &str = "refresh_token IS NOT NULL AND COALESCE(refresh_retry_at, 0) <= $1 \
    AND ((state = 'connected' AND COALESCE(refreshed_at, 0) < $2) \
      OR (state = 'needs_attention' AND COALESCE(attention_since, 0) >= $3))";

#[cfg(test)]
mod tests {
    use super::*;

    /// An attempt's mode and purpose, and its outcome, come back as the types they were
    /// stored as.
    #[tokio::test]
    async fn an_attempt_comes_back_typed_with_its_outcome() {
        let dir = tempfile::tempdir().unwrap();
        let store = super::super::testing::store(dir.path()).await;
        let browser = [1u8; 32];
        for (state, purpose, mode) in [
            (b"state-1", SignInPurpose::SignIn, SignInMode::Popup),
            (b"state-2", SignInPurpose::AdminConsent, SignInMode::Shared),
        ] {
            store
                .insert_attempt(NewAttempt {
                    state_hash: state,
                    account_id: "acct",
                    session_hash: &browser,
                    purpose,
                    mode,
                    sealed_verifier: b"sealed",
                    nonce: "nonce",
                    lifetime_secs: 600,
                    account_epoch: 3,
                })
                .await
                .unwrap();
            let Claim::Claimed(a) = store.claim_attempt(state, Some(&browser)).await.unwrap()
            else {
                panic!("claimed")
            };
            assert_eq!((a.purpose, a.mode, a.account_epoch), (purpose, mode, 3));
        }
        let outcome = SignInOutcome::Connected {
            username: "invoices@contoso.test".into(),
        };
        store.finish_attempt(b"state-1", &outcome).await.unwrap();
        let latest = store
            .latest_outcome("acct", &browser)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(latest.outcome, outcome);
        assert!(store
            .latest_outcome("acct", &[2u8; 32])
            .await
            .unwrap()
            .is_none());
    }

    /// A holder that stalled past its lease and then writes its answer lets go of no lease but
    /// its own: the instance that took over keeps it.
    #[tokio::test]
    async fn a_late_refresh_lets_go_only_of_its_own_lease() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::storage::drafts::tests::store_with_account(&dir).await;
        store
            .store_connection("acc1", 0, b"sealed-refresh", "u@contoso.test", None)
            .await
            .unwrap()
            .expect("connected");
        let generation = store
            .shared_token("acc1")
            .await
            .unwrap()
            .unwrap()
            .generation;
        let t = now_ms();
        assert!(store
            .take_refresh_lease("acc1", "a", t - 120_000, t - 60_000)
            .await
            .unwrap()
            .taken());
        assert!(store
            .take_refresh_lease("acc1", "b", t, t + 60_000)
            .await
            .unwrap()
            .taken());
        let late = Refreshed {
            sealed_refresh_token: None,
            sealed_access_token: b"sealed-access",
            access_expires_at: now() + 3600,
            lease_owner: "a",
        };
        assert!(store
            .record_refresh("acc1", generation, late)
            .await
            .unwrap());
        let lease = store
            .shared_token("acc1")
            .await
            .unwrap()
            .unwrap()
            .lease_until_ms;
        assert_eq!(lease, Some(t + 60_000), "b's lease stands");
        assert_eq!(
            store
                .take_refresh_lease("acc1", "c", t + 1, t + 60_000)
                .await
                .unwrap(),
            Lease::HeldElsewhere
        );
        assert_eq!(
            store
                .take_refresh_lease("gone", "c", t + 1, t + 60_000)
                .await
                .unwrap(),
            Lease::NoAccount
        );
    }
}
