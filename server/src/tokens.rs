//! Token upkeep: access tokens cached in memory and refreshed when less than five minutes remain.
//! Concurrent callers for one account share a single refresh; a rotated refresh token is stored
//! (guarded against a stale writer) before its access token is handed out; a refusal for good
//! (`invalid_grant`) moves the account to "needs sign-in again"; a refusal of the app's
//! credentials keeps the sign-in and is retried with backoff until the first success connects
//! the account again; 429 is honoured (`Retry-After`, nothing sent meanwhile); network failures
//! and 5xx are retried with backoff and leave the account connected.
//!
//! Several instances on one database: within a process one caller per account refreshes (its
//! flight lock); across processes the refreshing instance holds a lease on the account's row
//! (owner and expiry, taken and let go by single statements, so no connection waits on
//! Microsoft), and writes its result only if the token generation it read is still current.
//! The instances that lost wait for the winner's access token, which it stores sealed.

use crate::sync::lock;
use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use mailkey_app::{api::AccountState, sign_in::SignInProblem};
use oauth2::{
    basic::BasicErrorResponseType, RefreshToken, RequestTokenError, Scope, TokenResponse,
};
use secrecy::{ExposeSecret, SecretString};

use crate::{
    metrics::RefreshOutcome,
    providers::Providers,
    secrets::Aad,
    secrets::Sealer,
    sign_in::{problems, refresh_token_aad, AccountApp, HttpFailure, OAuthHttp, SignInError},
    storage::{now, now_ms, DraftRecord, Lease, Refreshed, Store},
};

/// The sealed access token's binding: this account's row, this field.
fn access_token_aad(id: &str) -> Aad<'_> {
    Aad {
        table: "accounts",
        row: id,
        field: "access_token",
    }
}

/// A name for this process (its leases, its revision listener): random, so two instances never
/// share one.
pub(crate) fn instance_name() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 8];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Refresh tokens unused for this long are refreshed by the upkeep, far inside Microsoft's 90 days.
pub const KEEP_ALIVE_AFTER_SECS: i64 = 7 * 86_400;
/// How often the upkeep looks for due accounts (quiet ones, and refused ones whose backoff is
/// over); a round with nothing due is one indexed query.
pub const KEEP_ALIVE_EVERY: Duration = Duration::from_secs(300);

/// Refresh when the cached token has less than this left.
pub const REFRESH_MARGIN_SECS: i64 = 300;
/// How long a refresh lease lasts: longer than a refresh with its retries takes. A holder that
/// died (or stalled past it) lets another instance take over.
pub const REFRESH_LEASE: Duration = Duration::from_secs(60);
/// How long past its own lease an instance waits for another's refresh before saying so.
const LEASE_GRACE: Duration = Duration::from_secs(2);
/// How often an instance waiting for another's refresh looks for its token.
const LEASE_POLL: Duration = Duration::from_millis(100);
/// Attempts for a refresh that fails on the network or with a 5xx.
const ATTEMPTS: u32 = 3;
const FIRST_BACKOFF: Duration = Duration::from_millis(400);

/// A fresh access token. Never printed.
pub struct AccessToken {
    pub token: SecretString,
    /// Seconds since the Unix epoch.
    pub expires_at: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the account is not signed in")]
    NotSignedIn,
    #[error("Microsoft refused the saved sign-in: {}", .0.title)]
    NeedsSignIn(SignInProblem),
    /// The app's credentials were refused; the sign-in is kept and retried from `retry_at`.
    #[error("Microsoft refused the app: {}", .problem.title)]
    AppRefused {
        problem: SignInProblem,
        retry_at: i64,
    },
    /// Temporary: Microsoft cannot be reached, fails, or asked Mailkey to wait (`retry_at`).
    #[error("Microsoft's token service is unavailable for now: {why}")]
    Unavailable {
        why: &'static str,
        retry_at: Option<i64>,
    },
    /// Another instance holds the account's refresh lease and has not finished within it:
    /// retryable, and nothing said about the sign-in.
    #[error("another Mailkey instance is refreshing this account's token and has not finished")]
    RefreshBusy,
    #[error(transparent)]
    Account(#[from] SignInError),
}

impl TokenError {
    fn unavailable(why: &'static str) -> TokenError {
        TokenError::Unavailable {
            why,
            retry_at: None,
        }
    }
}

/// After the app's credentials were refused, when to try again: a minute after the first
/// refusal, doubling with each one, at most six hours. Nango's lesson: one broken connection
/// retried on every call made ~60k refresh attempts a day.
fn app_refusal_backoff_secs(refusals_before: i64) -> i64 {
    (60i64 << refusals_before.clamp(0, 10)).min(6 * 3600)
}

/// How long to wait when Microsoft says "slow down": its `Retry-After`, within reason.
fn rate_limit_wait_secs(retry_after: Option<u64>) -> i64 {
    retry_after
        .and_then(|s| i64::try_from(s).ok())
        .unwrap_or(60)
        .clamp(1, 3600)
}

/// Which token another instance stored will do.
#[derive(Clone, Copy, Default)]
struct Want {
    /// Obtained at this time (ms) or later.
    obtained_from_ms: i64,
    /// Valid for at least this long.
    valid_for_secs: i64,
}

struct Cached {
    token: SecretString,
    obtained_at: i64,
    expires_at: i64,
    /// When this process got it, to tell a refresh that happened while a caller waited.
    got: std::time::Instant,
}

impl Cached {
    /// Five minutes before expiry, or half-way for tokens shorter-lived than ten minutes (so a
    /// tenant with very short tokens does not refresh on every request).
    fn fresh_at(&self, t: i64) -> bool {
        let margin = REFRESH_MARGIN_SECS.min((self.expires_at - self.obtained_at) / 2);
        self.expires_at - t > margin
    }
}

#[derive(Clone)]
pub struct TokenKeeper {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    sealer: Sealer,
    providers: Providers,
    http: OAuthHttp,
    redirect_uri: String,
    cache: Mutex<HashMap<String, Cached>>,
    /// One lock per account: whoever holds it refreshes, the others wait and reuse the result.
    flights: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    refreshes: AtomicU64,
    /// Accounts that have needed attention for longer than this are no longer retried.
    attention_keep_alive_secs: i64,
    /// Wakes the upkeep before its next round (a new secret was saved).
    wake: tokio::sync::Notify,
    /// Set at shutdown: the upkeep finishes the refresh under way and starts no other.
    stopping: std::sync::atomic::AtomicBool,
    /// This process's name on the refresh leases it takes.
    instance: String,
    /// [`REFRESH_LEASE`], shorter in tests.
    lease_ms: AtomicU64,
    /// Per account, the time (ms) before which no other instance's stored token is taken:
    /// set by [`TokenKeeper::forget`], so a forgotten token is not read back in.
    forgotten: Mutex<HashMap<String, i64>>,
}

impl std::fmt::Debug for TokenKeeper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenKeeper").finish_non_exhaustive()
    }
}

/// `expires_in` as seconds, within reason whatever the server sent (Microsoft: 60–90 minutes).
fn lifetime_secs(expires_in: Option<Duration>) -> i64 {
    expires_in
        .and_then(|d| i64::try_from(d.as_secs()).ok())
        .unwrap_or(3600)
        .clamp(0, 86_400)
}

impl TokenKeeper {
    pub fn new(
        store: Store,
        sealer: Sealer,
        providers: Providers,
        http: OAuthHttp,
        redirect_uri: String,
        attention_keep_alive_days: u32,
    ) -> TokenKeeper {
        TokenKeeper {
            inner: Arc::new(Inner {
                store,
                sealer,
                providers,
                http,
                redirect_uri,
                cache: Mutex::new(HashMap::new()),
                flights: Mutex::new(HashMap::new()),
                refreshes: AtomicU64::new(0),
                attention_keep_alive_secs: i64::from(attention_keep_alive_days) * 86_400,
                wake: tokio::sync::Notify::new(),
                stopping: Default::default(),
                instance: instance_name(),
                lease_ms: AtomicU64::new(REFRESH_LEASE.as_millis() as u64),
                forgotten: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Asks the upkeep to look for due accounts now rather than at its next round: an app's
    /// credentials were just replaced, so refused accounts can reconnect at once.
    pub fn wake_upkeep(&self) {
        self.inner.wake.notify_one();
    }

    /// Keeps the access token a sign-in just returned.
    pub fn prime(&self, account_id: &str, token: &str, expires_in: Option<Duration>) {
        let lifetime = lifetime_secs(expires_in);
        let t = now();
        lock(&self.inner.cache).insert(
            account_id.to_string(),
            Cached {
                token: SecretString::from(token.to_string()),
                obtained_at: t,
                expires_at: t.saturating_add(lifetime),
                got: std::time::Instant::now(),
            },
        );
    }

    /// When the cached access token expires, if one is cached.
    pub fn cached_until(&self, account_id: &str) -> Option<i64> {
        lock(&self.inner.cache)
            .get(account_id)
            .map(|c| c.expires_at)
    }

    /// Refresh requests this process sent (for the account page and tests).
    pub fn refreshes_sent(&self) -> u64 {
        self.inner.refreshes.load(Ordering::Relaxed)
    }

    pub fn forget(&self, account_id: &str) {
        lock(&self.inner.cache).remove(account_id);
        lock(&self.inner.forgotten).insert(account_id.to_string(), now_ms());
    }

    /// Sets how long this process's refresh leases last (`refresh_lease_seconds`; tests also
    /// stall a holder past a short one).
    pub fn set_refresh_lease(&self, lease: Duration) {
        self.inner
            .lease_ms
            .store(lease.as_millis() as u64, Ordering::Relaxed);
    }

    /// The access token another instance's refresh stored, while it is fresh (and not older
    /// than what this process was told to forget); kept in the cache like one of its own.
    async fn shared(
        &self,
        account_id: &str,
        want: Want,
    ) -> Result<Option<AccessToken>, TokenError> {
        let inner = &self.inner;
        let Some(shared) = inner
            .store
            .shared_token(account_id)
            .await
            .map_err(SignInError::from)?
        else {
            return Ok(None);
        };
        let (Some(sealed), Some(expires_at), Some(obtained_ms)) = (
            shared.sealed_access_token,
            shared.access_expires_at,
            shared.access_obtained_ms,
        ) else {
            return Ok(None);
        };
        let forgotten = lock(&inner.forgotten).get(account_id).copied().unwrap_or(0);
        let left = expires_at - now();
        if obtained_ms < forgotten.max(want.obtained_from_ms)
            || left <= REFRESH_MARGIN_SECS
            || left < want.valid_for_secs
        {
            return Ok(None);
        }
        let token = inner
            .sealer
            .open(&sealed, &access_token_aad(account_id))
            .map_err(|_| SignInError::Seal)?;
        let token = SecretString::from(token.expose_secret().to_string());
        lock(&inner.cache).insert(
            account_id.to_string(),
            Cached {
                token: token.clone(),
                obtained_at: obtained_ms / 1000,
                expires_at,
                got: std::time::Instant::now(),
            },
        );
        Ok(Some(AccessToken { token, expires_at }))
    }

    fn fresh(&self, account_id: &str) -> Option<AccessToken> {
        let cache = lock(&self.inner.cache);
        let c = cache.get(account_id)?;
        c.fresh_at(now()).then(|| AccessToken {
            token: c.token.clone(),
            expires_at: c.expires_at,
        })
    }

    /// The cached token while it is still valid at all (not only fresh): what a caller gets
    /// while Microsoft asked Mailkey to wait.
    fn unexpired(&self, account_id: &str) -> Option<AccessToken> {
        let cache = lock(&self.inner.cache);
        let c = cache.get(account_id)?;
        (c.expires_at > now() + 30).then(|| AccessToken {
            token: c.token.clone(),
            expires_at: c.expires_at,
        })
    }

    /// One round of upkeep: refreshes the connected accounts whose refresh token is older than
    /// `max_age_secs`, so quiet connections do not expire, and retries accounts whose app was
    /// refused once their backoff is over (the first success connects them again). Returns how
    /// many were refreshed.
    pub async fn keep_alive(&self, max_age_secs: i64) -> usize {
        let t = now();
        let due = match self
            .inner
            .store
            .accounts_to_keep_alive(
                t - max_age_secs,
                t - self.inner.attention_keep_alive_secs,
                100,
            )
            .await
        {
            Ok(ids) => ids,
            Err(e) => {
                tracing::warn!(error = %e, "token upkeep cannot list accounts");
                return 0;
            }
        };
        // Each instance walks the due accounts in an order of its own, and passes over those
        // another instance is refreshing, so several instances share a round's work rather than
        // queueing behind each other's leases.
        let mut due = due;
        rand::seq::SliceRandom::shuffle(due.as_mut_slice(), &mut rand::rng());
        let mut refreshed = 0;
        for id in due {
            if self.inner.stopping.load(Ordering::Relaxed) {
                break;
            }
            let flight = self.flight(&id);
            let _turn = flight.lock().await;
            // A caller or another round may have refreshed it while this one waited.
            match self
                .inner
                .store
                .still_due(
                    &id,
                    t - max_age_secs,
                    t - self.inner.attention_keep_alive_secs,
                )
                .await
            {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "token upkeep cannot read an account");
                    continue;
                }
            }
            match self
                .refresh_unless_held(
                    &id,
                    t - max_age_secs,
                    t - self.inner.attention_keep_alive_secs,
                )
                .await
            {
                Ok(true) => refreshed += 1,
                Ok(false) => {}
                // Refusals are recorded on the account by `refresh`; the rest is retried next round.
                Err(e) => tracing::warn!(account = %id, error = %e, "token upkeep: refresh failed"),
            }
        }
        refreshed
    }

    /// The upkeep's refresh: `Ok(false)` when another instance holds the account's lease (it
    /// is refreshing it now; one that died is taken over at a later round, once its lease ran
    /// out) or refreshed it since the round began (`still_due`'s thresholds).
    async fn refresh_unless_held(
        &self,
        account_id: &str,
        refreshed_before: i64,
        attention_before: i64,
    ) -> Result<bool, TokenError> {
        let inner = &self.inner;
        let lease = inner.lease_ms.load(Ordering::Relaxed) as i64;
        let t = now_ms();
        let taken = inner
            .store
            .take_refresh_lease(account_id, &inner.instance, t, t + lease)
            .await
            .map_err(SignInError::from)?;
        if !taken.taken() {
            return Ok(false);
        }
        // Another instance may have finished it between the round's look and this lease.
        match inner
            .store
            .still_due(account_id, refreshed_before, attention_before)
            .await
        {
            Ok(true) => {}
            done_or_unreadable => {
                self.let_go(account_id).await;
                return done_or_unreadable
                    .map(|_| false)
                    .map_err(|e| SignInError::from(e).into());
            }
        }
        let result = self.refresh_holding_lease(account_id).await;
        if result.is_err() {
            self.let_go(account_id).await;
        }
        result.map(|_| true)
    }

    /// Runs [`TokenKeeper::keep_alive`] every [`KEEP_ALIVE_EVERY`] until the process stops.
    pub fn spawn_upkeep(&self) -> tokio::task::JoinHandle<()> {
        let keeper = self.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(KEEP_ALIVE_EVERY);
            loop {
                tokio::select! {
                    _ = every.tick() => {}
                    _ = keeper.inner.wake.notified() => {}
                }
                if keeper.inner.stopping.load(Ordering::Relaxed) {
                    return;
                }
                let n = keeper.keep_alive(KEEP_ALIVE_AFTER_SECS).await;
                if n > 0 {
                    tracing::info!(accounts = n, "token upkeep refreshed quiet connections");
                }
            }
        })
    }

    /// Stops the upkeep at shutdown: the refresh under way may finish (and store the refresh
    /// token Microsoft may have rotated) within `grace`; past it the task is cut off and its
    /// lease ends by the clock, for another instance or the next start to take over.
    pub async fn stop_upkeep(&self, upkeep: tokio::task::JoinHandle<()>, grace: Duration) {
        self.inner.stopping.store(true, Ordering::Relaxed);
        self.inner.wake.notify_one();
        let abort = upkeep.abort_handle();
        if tokio::time::timeout(grace, upkeep).await.is_err() {
            abort.abort();
            crate::metrics::refreshed(RefreshOutcome::Interrupted);
            tracing::warn!(
                grace_secs = grace.as_secs(),
                "token upkeep cut off at shutdown mid-refresh; its lease ends by itself"
            );
        }
    }

    /// The account's refresh lock: whoever changes its tokens holds it.
    pub(crate) fn flight(&self, account_id: &str) -> Arc<tokio::sync::Mutex<()>> {
        lock(&self.inner.flights)
            .entry(account_id.to_string())
            .or_default()
            .clone()
    }

    /// A token valid for at least `min_validity_secs` more (from the cache when it is), or a new
    /// one when `force_refresh`. Callers asking at once share one refresh: whoever waited while
    /// another refreshed takes that token, forced or not.
    pub async fn access_token_for(
        &self,
        account_id: &str,
        min_validity_secs: i64,
        force_refresh: bool,
    ) -> Result<AccessToken, TokenError> {
        let asked = std::time::Instant::now();
        let want = Want {
            obtained_from_ms: if force_refresh { now_ms() } else { 0 },
            valid_for_secs: min_validity_secs,
        };
        let usable = |keeper: &TokenKeeper| {
            let cache = lock(&keeper.inner.cache);
            let c = cache.get(account_id)?;
            let t = now();
            let long_enough = c.fresh_at(t) && c.expires_at - t >= min_validity_secs;
            let new_enough = !force_refresh || c.got >= asked;
            (long_enough && new_enough).then(|| AccessToken {
                token: c.token.clone(),
                expires_at: c.expires_at,
            })
        };
        if let Some(t) = usable(self) {
            return Ok(t);
        }
        let flight = self.flight(account_id);
        let _turn = flight.lock().await;
        if let Some(t) = usable(self) {
            return Ok(t);
        }
        self.refresh_unless_shared(account_id, want).await
    }

    /// A valid access token for the account, refreshing it if needed.
    pub async fn access_token(&self, account_id: &str) -> Result<AccessToken, TokenError> {
        if let Some(t) = self.fresh(account_id) {
            return Ok(t);
        }
        let flight = self.flight(account_id);
        let _turn = flight.lock().await;
        // Whoever held the lock before may have refreshed already.
        if let Some(t) = self.fresh(account_id) {
            return Ok(t);
        }
        self.refresh(account_id).await
    }

    fn cache(&self, account_id: &str, answer: &crate::sign_in::TokenAnswer) -> AccessToken {
        let lifetime = lifetime_secs(answer.expires_in());
        let t = now();
        let token = AccessToken {
            token: SecretString::from(answer.access_token().secret().to_string()),
            expires_at: t.saturating_add(lifetime),
        };
        lock(&self.inner.cache).insert(
            account_id.to_string(),
            Cached {
                token: token.token.clone(),
                obtained_at: t,
                expires_at: token.expires_at,
                got: std::time::Instant::now(),
            },
        );
        tracing::debug!(account = %account_id, lifetime, "access token refreshed");
        token
    }

    /// Stores a refresh answer: the rotated refresh token first (guarded by the generation
    /// read before the request), then the access token. If another process (a second instance,
    /// `mailkey test`) refreshed meanwhile, its refresh token is kept and this answer's access
    /// token is still good for the same mailbox; if the account changed mailbox or app, the
    /// answer belongs to a connection that no longer exists and is dropped.
    async fn keep(
        &self,
        read: &DraftRecord,
        answer: &crate::sign_in::TokenAnswer,
    ) -> Result<AccessToken, TokenError> {
        let inner = &self.inner;
        let account_id = read.id.as_str();
        let sealed = answer.refresh_token().map(|new| {
            inner
                .sealer
                .seal(new.secret(), &refresh_token_aad(account_id))
        });
        let sealed_access = inner.sealer.seal(
            answer.access_token().secret(),
            &access_token_aad(account_id),
        );
        let refreshed = Refreshed {
            sealed_refresh_token: sealed.as_deref(),
            sealed_access_token: &sealed_access,
            access_expires_at: now().saturating_add(lifetime_secs(answer.expires_in())),
            lease_owner: &inner.instance,
        };
        let current = inner
            .store
            .record_refresh(account_id, read.refresh_generation, refreshed)
            .await
            .map_err(SignInError::from)?;
        if current {
            return Ok(self.cache(account_id, answer));
        }
        let now_record = inner
            .store
            .draft(account_id)
            .await
            .map_err(SignInError::from)?
            .ok_or(SignInError::NotFound)?;
        let same_connection = now_record.refresh_token.is_some()
            && now_record.identity_epoch == read.identity_epoch
            && now_record.signed_in_as == read.signed_in_as;
        if same_connection {
            tracing::info!(account = %account_id, "another process refreshed at the same time; kept its refresh token");
            return Ok(self.cache(account_id, answer));
        }
        tracing::info!(account = %account_id, "the account's sign-in changed during a refresh; dropped the answer");
        // Whatever is cached may be of the connection that just ended.
        self.forget(account_id);
        match now_record.refresh_token {
            None => Err(TokenError::NotSignedIn),
            Some(_) => Err(TokenError::unavailable(
                "the account signed in again meanwhile; ask again",
            )),
        }
    }

    /// A refresh, under the account's flight lock: by this instance when it gets the account's
    /// lease, else the token the holder stores. A holder that does not finish within its lease
    /// is taken over; waiting longer than that is [`TokenError::RefreshBusy`].
    async fn refresh(&self, account_id: &str) -> Result<AccessToken, TokenError> {
        self.refresh_unless_shared(account_id, Want::default())
            .await
    }

    /// [`TokenKeeper::refresh`], taking another instance's stored token only if it is what
    /// the caller wants: a forced refresh one newer than the call, the upkeep one that really
    /// used the refresh token, a caller with a minimum validity one valid that long.
    async fn refresh_unless_shared(
        &self,
        account_id: &str,
        want: Want,
    ) -> Result<AccessToken, TokenError> {
        let inner = &self.inner;
        let lease = Duration::from_millis(inner.lease_ms.load(Ordering::Relaxed));
        let give_up = std::time::Instant::now() + lease + LEASE_GRACE;
        loop {
            if let Some(token) = self.shared(account_id, want).await? {
                return Ok(token);
            }
            let t = now_ms();
            let taken = inner
                .store
                .take_refresh_lease(account_id, &inner.instance, t, t + lease.as_millis() as i64)
                .await
                .map_err(SignInError::from)?;
            if taken == Lease::NoAccount {
                // Deleted meanwhile: there is no lease to wait out.
                return Err(SignInError::NotFound.into());
            }
            if taken.taken() {
                // The holder before may have stored its token just before letting go.
                if let Some(token) = self.shared(account_id, want).await? {
                    self.let_go(account_id).await;
                    return Ok(token);
                }
                let result = self.refresh_holding_lease(account_id).await;
                if result.is_err() {
                    self.let_go(account_id).await;
                }
                return result;
            }
            if std::time::Instant::now() >= give_up {
                crate::metrics::refreshed(RefreshOutcome::LeaseTimeout);
                return Err(TokenError::RefreshBusy);
            }
            tokio::time::sleep(LEASE_POLL).await;
        }
    }

    /// Lets go of this instance's lease; one left behind ends by the clock.
    async fn let_go(&self, account_id: &str) {
        let inner = &self.inner;
        if let Err(e) = inner
            .store
            .release_refresh_lease(account_id, &inner.instance)
            .await
        {
            tracing::warn!(account = %account_id, error = %e, "could not let go of the refresh lease; it ends by itself");
        }
    }

    /// The refresh itself, with the lease held. A refusal that only says another process
    /// rotated the refresh token first (the generation moved) re-reads the account and goes on
    /// with the newer token, once.
    async fn refresh_holding_lease(&self, account_id: &str) -> Result<AccessToken, TokenError> {
        for _ in 0..2 {
            match self.refresh_once(account_id).await? {
                Some(token) => return Ok(token),
                None => continue,
            }
        }
        self.fresh(account_id).ok_or(TokenError::unavailable(
            "the account's sign-in kept changing during the refresh",
        ))
    }

    /// `Ok(None)`: superseded by another writer; read the account again.
    async fn refresh_once(&self, account_id: &str) -> Result<Option<AccessToken>, TokenError> {
        let inner = &self.inner;
        let record = inner
            .store
            .draft(account_id)
            .await
            .map_err(SignInError::from)?
            .ok_or(SignInError::NotFound)?;
        let Some(sealed) = record.refresh_token.as_deref() else {
            return Err(TokenError::NotSignedIn);
        };
        let t = now();
        if let Some(retry_at) = record.refresh_retry_at.filter(|&at| at > t) {
            // Nothing is sent during a wait: the refused app keeps its explanation, and a
            // throttled one its still-valid token if one is cached.
            if record.state == AccountState::NeedsAttention {
                if let Some(problem) = record.problem.clone() {
                    return Err(TokenError::AppRefused { problem, retry_at });
                }
            }
            if let Some(token) = self.unexpired(account_id) {
                return Ok(Some(token));
            }
            return Err(TokenError::Unavailable {
                why: "Microsoft asked Mailkey to wait before the next request",
                retry_at: Some(retry_at),
            });
        }
        let generation = record.refresh_generation;
        let app = AccountApp::load(&record, &inner.providers, &inner.sealer)?;
        let refresh_token = inner
            .sealer
            .open(sealed, &refresh_token_aad(account_id))
            .map_err(|_| SignInError::Seal)?;
        let client = app.client(&inner.redirect_uri)?;
        let cx = app.problem_context(&inner.redirect_uri, true);
        let mut backoff = FIRST_BACKOFF;
        for attempt in 1..=ATTEMPTS {
            inner.refreshes.fetch_add(1, Ordering::Relaxed);
            let http = inner.http.clone();
            let rt = RefreshToken::new(refresh_token.expose_secret().to_string());
            let answer = client
                .exchange_refresh_token(&rt)
                .add_scopes(app.scopes.iter().cloned().map(Scope::new))
                .request_async(&move |req| {
                    let http = http.clone();
                    async move { http.send(req).await }
                })
                .await;
            let transient = match &answer {
                // A server that says when to come back is not asked again before then.
                Err(RequestTokenError::Request(e)) => e.is_transient() && e.retry_after().is_none(),
                Err(RequestTokenError::ServerResponse(e)) => matches!(
                    e.error(),
                    BasicErrorResponseType::Extension(code)
                        if code == "temporarily_unavailable" || code == "server_error"
                ),
                _ => false,
            };
            if transient && attempt < ATTEMPTS {
                tracing::warn!(account = %account_id, attempt, "refresh failed for now; retrying");
                tokio::time::sleep(backoff).await;
                backoff *= 2;
                continue;
            }
            return match answer {
                Ok(a) => {
                    crate::metrics::refreshed(if a.refresh_token().is_some() {
                        RefreshOutcome::Rotated
                    } else {
                        RefreshOutcome::Fresh
                    });
                    self.keep(&record, &a).await.map(Some)
                }
                Err(RequestTokenError::Request(e))
                    if e.retry_after().is_some()
                        || matches!(e, HttpFailure::RateLimited { .. }) =>
                {
                    crate::metrics::refreshed(RefreshOutcome::ProviderUnavailable);
                    let retry_at = now() + rate_limit_wait_secs(e.retry_after());
                    inner
                        .store
                        .defer_refresh(account_id, retry_at)
                        .await
                        .map_err(SignInError::from)?;
                    tracing::warn!(account = %account_id, wait_secs = retry_at - now(), "Microsoft asked to wait before refreshing; the account stays connected");
                    if let Some(token) = self.unexpired(account_id) {
                        return Ok(Some(token));
                    }
                    Err(TokenError::Unavailable {
                        why: "Microsoft asked Mailkey to wait before the next request",
                        retry_at: Some(retry_at),
                    })
                }
                Err(RequestTokenError::ServerResponse(e)) if !transient => {
                    let problem = problems::from_microsoft(
                        e.error().as_ref(),
                        e.error_description().map(String::as_str),
                        &cx,
                    );
                    let for_good = *e.error() == BasicErrorResponseType::InvalidGrant;
                    let retry_at = now() + app_refusal_backoff_secs(record.refresh_failures);
                    // Only if this refresh token is still the account's: when another process
                    // rotated it meanwhile, this refusal says nothing about the newer one.
                    let current = if for_good {
                        inner
                            .store
                            .mark_sign_in_refused(account_id, generation, &problem)
                            .await
                    } else {
                        inner
                            .store
                            .mark_app_refused(
                                account_id,
                                generation,
                                record.refresh_failures,
                                &problem,
                                retry_at,
                            )
                            .await
                    }
                    .map_err(SignInError::from)?;
                    if !current {
                        return Ok(None);
                    }
                    crate::metrics::refreshed(if for_good {
                        RefreshOutcome::NeedsReconnect
                    } else {
                        RefreshOutcome::AppRefused
                    });
                    self.forget(account_id);
                    tracing::warn!(
                        account = %account_id,
                        aadsts = problem.code.unwrap_or(0),
                        for_good,
                        "refresh refused: {}",
                        problem.title
                    );
                    Err(if for_good {
                        TokenError::NeedsSignIn(problem)
                    } else {
                        TokenError::AppRefused { problem, retry_at }
                    })
                }
                Err(RequestTokenError::ServerResponse(_)) | Err(RequestTokenError::Request(_)) => {
                    crate::metrics::refreshed(RefreshOutcome::ProviderUnavailable);
                    tracing::warn!(account = %account_id, "refresh failed; the account stays connected");
                    Err(TokenError::unavailable(
                        "the token endpoint cannot be reached or is failing",
                    ))
                }
                Err(e) => {
                    crate::metrics::refreshed(RefreshOutcome::ProviderUnavailable);
                    tracing::warn!(account = %account_id, error = %e, "refresh answer unreadable");
                    Err(TokenError::unavailable(
                        "the token endpoint's answer is not a token response",
                    ))
                }
            };
        }
        Err(TokenError::unavailable("retries exhausted"))
    }
}
