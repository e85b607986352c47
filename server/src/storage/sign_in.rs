//! Sign-in attempts (one per authorization request) and the connection they leave behind: the
//! sealed refresh token and who signed in.

use sqlx::Row;

use mailkey_app::webhooks::EventType;

use super::{
    now,
    webhooks::{record_event, NewEvent},
    StorageError, Store,
};

pub struct NewAttempt<'a> {
    pub state_hash: &'a [u8],
    pub account_id: &'a str,
    pub session_hash: &'a [u8],
    pub purpose: &'a str,
    pub mode: &'a str,
    pub sealed_verifier: &'a [u8],
    pub nonce: &'a str,
    pub lifetime_secs: i64,
    /// The account's identity epoch when the sign-in started.
    pub account_epoch: i64,
}

#[derive(Clone, Debug)]
pub struct AttemptRecord {
    pub account_id: String,
    pub purpose: String,
    pub mode: String,
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

impl Store {
    pub async fn insert_attempt(&self, a: NewAttempt<'_>) -> Result<(), StorageError> {
        let t = now();
        // Old rows only matter for their outcome, which the wizard reads within minutes (a
        // shared link's, within its lifetime).
        sqlx::query("DELETE FROM sign_in_attempts WHERE expires_at < ?")
            .bind(t - 86_400)
            .execute(&self.pool)
            .await?;
        sqlx::query(
            "INSERT INTO sign_in_attempts (state_hash, account_id, session_hash, purpose, mode, \
             pkce_verifier, nonce, created_at, expires_at, account_epoch) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(a.state_hash)
        .bind(a.account_id)
        .bind(a.session_hash)
        .bind(a.purpose)
        .bind(a.mode)
        .bind(a.sealed_verifier)
        .bind(a.nonce)
        .bind(t)
        .bind(t + a.lifetime_secs)
        .bind(a.account_epoch)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Uses an attempt once: checks its browser and age first, then marks it used atomically so
    /// two callbacks racing with one `state` cannot both pass.
    pub async fn claim_attempt(
        &self,
        state_hash: &[u8],
        session_hash: Option<&[u8]>,
    ) -> Result<Claim, StorageError> {
        let Some(r) = sqlx::query(
            "SELECT account_id, session_hash, purpose, mode, pkce_verifier, nonce, expires_at, \
             used_at, account_epoch FROM sign_in_attempts WHERE state_hash = ?",
        )
        .bind(state_hash)
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(Claim::Unknown);
        };
        // A shared admin-consent link comes back in the administrator's browser.
        let shared = r.get::<String, _>("mode") == "shared";
        if r.get::<Option<i64>, _>("used_at").is_some() {
            return Ok(if shared {
                Claim::SharedLinkUsed
            } else {
                Claim::AlreadyUsed
            });
        }
        let owner: Vec<u8> = r.get("session_hash");
        if !shared && session_hash != Some(owner.as_slice()) {
            return Ok(Claim::OtherBrowser);
        }
        let t = now();
        if r.get::<i64, _>("expires_at") <= t {
            return Ok(if shared {
                Claim::SharedLinkExpired
            } else {
                Claim::Expired
            });
        }
        let done = sqlx::query(
            "UPDATE sign_in_attempts SET used_at = ? WHERE state_hash = ? AND used_at IS NULL",
        )
        .bind(t)
        .bind(state_hash)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(Claim::AlreadyUsed);
        }
        Ok(Claim::Claimed(AttemptRecord {
            account_id: r.get("account_id"),
            purpose: r.get("purpose"),
            mode: r.get("mode"),
            sealed_verifier: r.get("pkce_verifier"),
            nonce: r.get("nonce"),
            account_epoch: r.get("account_epoch"),
        }))
    }

    pub async fn finish_attempt(
        &self,
        state_hash: &[u8],
        outcome_json: &str,
    ) -> Result<(), StorageError> {
        sqlx::query(
            "UPDATE sign_in_attempts SET finished_at = ?, outcome = ? WHERE state_hash = ?",
        )
        .bind(now())
        .bind(outcome_json)
        .bind(state_hash)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The latest finished attempt of this browser for the account: its row number (a cursor
    /// that tells one attempt from the next, even within a second), when it finished and its
    /// outcome (JSON).
    pub async fn latest_outcome(
        &self,
        account_id: &str,
        session_hash: &[u8],
    ) -> Result<Option<(i64, i64, String)>, StorageError> {
        let row = sqlx::query(
            "SELECT rowid, finished_at, outcome FROM sign_in_attempts \
             WHERE account_id = ? AND session_hash = ? AND finished_at IS NOT NULL \
             ORDER BY finished_at DESC, rowid DESC LIMIT 1",
        )
        .bind(account_id)
        .bind(session_hash)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| (r.get("rowid"), r.get("finished_at"), r.get("outcome"))))
    }

    /// A completed sign-in: the new sealed refresh token, who signed in, state `connected` —
    /// only if the account is still what the sign-in was started for (same identity epoch:
    /// neither its mailbox address nor its app changed meanwhile). `None` otherwise: nothing
    /// was stored. Records `account.connected` (the first sign-in) or `account.reconnected`.
    pub async fn store_connection(
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
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let signed_in_before: Option<Option<i64>> =
            sqlx::query_scalar("SELECT signed_in_at FROM accounts WHERE id = ?")
                .bind(account_id)
                .fetch_optional(&mut *tx)
                .await?;
        let r = sqlx::query(
            "UPDATE accounts SET refresh_token = ?, refresh_generation = refresh_generation + 1, \
               signed_in_as = ?, signed_in_at = ?, refreshed_at = ?, \
               tenant_id = COALESCE(?, tenant_id), connection_problem = NULL, \
               attention_since = NULL, refresh_failures = 0, refresh_retry_at = NULL, \
               state = 'connected', updated_at = ? \
             WHERE id = ? AND identity_epoch = ? RETURNING refresh_generation",
        )
        .bind(sealed_refresh_token)
        .bind(username)
        .bind(t)
        .bind(t)
        .bind(tenant_id)
        .bind(t)
        .bind(account_id)
        .bind(account_epoch)
        .fetch_optional(&mut *tx)
        .await?;
        if r.is_some() {
            let event = match signed_in_before.flatten() {
                Some(_) => EventType::AccountReconnected,
                None => EventType::AccountConnected,
            };
            record_event(&mut tx, &NewEvent::about(event, account_id)).await?;
        }
        tx.commit().await?;
        Ok(r.map(|r| r.get(0)))
    }

    /// A successful refresh: the rotated refresh token (if one came) and the time, only if the
    /// refresh token is still the one read at `generation`. False when a newer sign-in or
    /// refresh won. The account is connected again and any earlier problem is cleared: a
    /// refusal of the app (a secret being rotated) ends with the first refresh that works.
    pub async fn record_refresh(
        &self,
        account_id: &str,
        generation: i64,
        sealed_refresh_token: Option<&[u8]>,
    ) -> Result<bool, StorageError> {
        let t = now();
        let done = sqlx::query(
            "UPDATE accounts SET refresh_token = COALESCE(?, refresh_token), \
               refresh_generation = refresh_generation + (? IS NOT NULL), \
               refreshed_at = ?, updated_at = ?, state = 'connected', connection_problem = NULL, \
               attention_since = NULL, refresh_failures = 0, refresh_retry_at = NULL \
             WHERE id = ? AND refresh_generation = ?",
        )
        .bind(sealed_refresh_token)
        .bind(sealed_refresh_token)
        .bind(t)
        .bind(t)
        .bind(account_id)
        .bind(generation)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Microsoft refused a refresh for good (`invalid_grant`: revoked, expired): the token is
    /// dropped and the account needs a new sign-in. Only if the token is still the one read at
    /// `generation`. Records `account.needs_reconnect` with `reason`.
    pub async fn mark_sign_in_refused(
        &self,
        account_id: &str,
        generation: i64,
        problem_json: &str,
        reason: &str,
    ) -> Result<bool, StorageError> {
        let t = now();
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE accounts SET refresh_token = NULL, refresh_generation = refresh_generation + 1, \
               state = 'needs_attention', connection_problem = ?, \
               attention_since = COALESCE(attention_since, ?), refresh_failures = 0, \
               refresh_retry_at = NULL, updated_at = ? \
             WHERE id = ? AND refresh_generation = ?",
        )
        .bind(problem_json)
        .bind(t)
        .bind(t)
        .bind(account_id)
        .bind(generation)
        .execute(&mut *tx)
        .await?;
        let done = done.rows_affected() == 1;
        if done {
            let event = NewEvent {
                reason_code: Some("refresh_token_refused"),
                reason: Some(reason),
                ..NewEvent::about(EventType::AccountNeedsReconnect, account_id)
            };
            record_event(&mut tx, &event).await?;
        }
        tx.commit().await?;
        Ok(done)
    }

    /// Microsoft refused the app's credentials (a wrong, expired or rotated secret): the
    /// refresh token is kept, the account needs an admin, and no refresh is tried again before
    /// `retry_at`. Only if the token is still the one read at `generation`, and no new secret
    /// reset the refusals (`failures` as read) while this refresh was under way with the old one.
    pub async fn mark_app_refused(
        &self,
        account_id: &str,
        generation: i64,
        failures: i64,
        problem_json: &str,
        reason: &str,
        retry_at: i64,
    ) -> Result<bool, StorageError> {
        let t = now();
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let before: Option<String> = sqlx::query_scalar("SELECT state FROM accounts WHERE id = ?")
            .bind(account_id)
            .fetch_optional(&mut *tx)
            .await?;
        let done = sqlx::query(
            "UPDATE accounts SET state = 'needs_attention', connection_problem = ?, \
               attention_since = COALESCE(attention_since, ?), \
               refresh_failures = refresh_failures + 1, refresh_retry_at = ?, updated_at = ? \
             WHERE id = ? AND refresh_generation = ? AND refresh_failures = ?",
        )
        .bind(problem_json)
        .bind(t)
        .bind(retry_at)
        .bind(t)
        .bind(account_id)
        .bind(generation)
        .bind(failures)
        .execute(&mut *tx)
        .await?;
        let done = done.rows_affected() == 1;
        // Once when it starts, not on every refused retry.
        if done && before.as_deref() != Some("needs_attention") {
            let event = NewEvent {
                reason_code: Some("app_credentials_refused"),
                reason: Some(reason),
                ..NewEvent::about(EventType::AccountAppRefused, account_id)
            };
            record_event(&mut tx, &event).await?;
        }
        tx.commit().await?;
        Ok(done)
    }

    /// Microsoft asked Mailkey to wait (429, `Retry-After`): no refresh before `retry_at`; the
    /// account stays as it is.
    pub async fn defer_refresh(&self, account_id: &str, retry_at: i64) -> Result<(), StorageError> {
        sqlx::query(
            "UPDATE accounts SET refresh_retry_at = MAX(COALESCE(refresh_retry_at, 0), ?) \
             WHERE id = ?",
        )
        .bind(retry_at)
        .bind(account_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The operator's app changed (a new secret saved): every account on it may refresh at once.
    pub async fn clear_operator_refresh_waits(&self, provider: &str) -> Result<u64, StorageError> {
        let done = sqlx::query(
            "UPDATE accounts SET refresh_retry_at = NULL, refresh_failures = 0, \
               attention_since = ? \
             WHERE app_source = 'operator' AND provider = ? AND state = 'needs_attention' \
               AND refresh_token IS NOT NULL",
        )
        .bind(now())
        .bind(provider)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }
}

/// When an account is due for upkeep (binds: now, refreshed before, attention since after).
const DUE: &str = "refresh_token IS NOT NULL AND COALESCE(refresh_retry_at, 0) <= ? \
    AND ((state = 'connected' AND COALESCE(refreshed_at, 0) < ?) \
      OR (state = 'needs_attention' AND COALESCE(attention_since, 0) >= ?))";

impl Store {
    /// Accounts token upkeep should refresh now, oldest first: connected ones whose refresh
    /// token was last obtained before `before`, and those whose app was refused (refresh token
    /// kept) once their backoff is over, unless they have needed attention since before
    /// `attention_after`. Accounts Microsoft asked to wait are left until `retry_at`.
    pub async fn accounts_to_keep_alive(
        &self,
        before: i64,
        attention_after: i64,
        limit: i64,
    ) -> Result<Vec<String>, StorageError> {
        let rows = sqlx::query(&format!(
            "SELECT id FROM accounts WHERE {DUE} ORDER BY refreshed_at LIMIT ?"
        ))
        .bind(now())
        .bind(before)
        .bind(attention_after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|r| r.get("id")).collect())
    }

    /// Whether the account is still due for upkeep: another round (or process) may have
    /// refreshed it since the list was read.
    pub async fn still_due(
        &self,
        id: &str,
        before: i64,
        attention_after: i64,
    ) -> Result<bool, StorageError> {
        let row = sqlx::query(&format!("SELECT id FROM accounts WHERE {DUE} AND id = ?"))
            .bind(now())
            .bind(before)
            .bind(attention_after)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.is_some())
    }
}
