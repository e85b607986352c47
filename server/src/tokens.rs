//! Token upkeep: access tokens cached in memory and refreshed when less than five minutes remain.
//! Concurrent callers for one account share a single refresh; a rotated refresh token is stored
//! (guarded against a stale writer) before its access token is handed out; a refusal for good
//! (`invalid_grant`) moves the account to "needs sign-in again", while network failures and 5xx
//! are retried with backoff and leave the account connected.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use mailkey_app::sign_in::SignInProblem;
use oauth2::{
    basic::BasicErrorResponseType, RefreshToken, RequestTokenError, Scope, TokenResponse,
};
use secrecy::{ExposeSecret, SecretString};

use crate::{
    providers::Providers,
    secrets::Sealer,
    sign_in::{problems, refresh_token_aad, AccountApp, OAuthHttp, SignInError},
    storage::{now, Store},
};

/// Refresh tokens unused for this long are refreshed by the upkeep, far inside Microsoft's 90 days.
pub const KEEP_ALIVE_AFTER_SECS: i64 = 7 * 86_400;
/// How often the upkeep looks for such accounts.
pub const KEEP_ALIVE_EVERY: Duration = Duration::from_secs(3600);

/// Refresh when the cached token has less than this left.
pub const REFRESH_MARGIN_SECS: i64 = 300;
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
    #[error("Microsoft refused the app: {}", .0.title)]
    AppRefused(SignInProblem),
    #[error("the token endpoint cannot be reached: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Account(#[from] SignInError),
}

struct Cached {
    token: SecretString,
    obtained_at: i64,
    expires_at: i64,
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

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl TokenKeeper {
    pub fn new(
        store: Store,
        sealer: Sealer,
        providers: Providers,
        http: OAuthHttp,
        redirect_uri: String,
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
            }),
        }
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
    }

    fn fresh(&self, account_id: &str) -> Option<AccessToken> {
        let cache = lock(&self.inner.cache);
        let c = cache.get(account_id)?;
        c.fresh_at(now()).then(|| AccessToken {
            token: c.token.clone(),
            expires_at: c.expires_at,
        })
    }

    /// One round of upkeep: refreshes the connected accounts whose refresh token is older than
    /// `max_age_secs`, so quiet connections do not expire. Returns how many were refreshed.
    pub async fn keep_alive(&self, max_age_secs: i64) -> usize {
        let due = match self
            .inner
            .store
            .accounts_to_keep_alive(now() - max_age_secs, 100)
            .await
        {
            Ok(ids) => ids,
            Err(e) => {
                tracing::warn!(error = %e, "token upkeep cannot list accounts");
                return 0;
            }
        };
        let mut refreshed = 0;
        for id in due {
            let flight = self.flight(&id);
            let _turn = flight.lock().await;
            match self.refresh(&id).await {
                Ok(_) => refreshed += 1,
                // Refusals are recorded on the account by `refresh`; the rest is retried next round.
                Err(e) => tracing::warn!(account = %id, error = %e, "token upkeep: refresh failed"),
            }
        }
        refreshed
    }

    /// Runs [`TokenKeeper::keep_alive`] every [`KEEP_ALIVE_EVERY`] until the process stops.
    pub fn spawn_upkeep(&self) -> tokio::task::JoinHandle<()> {
        let keeper = self.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(KEEP_ALIVE_EVERY);
            loop {
                every.tick().await;
                let n = keeper.keep_alive(KEEP_ALIVE_AFTER_SECS).await;
                if n > 0 {
                    tracing::info!(accounts = n, "token upkeep refreshed quiet connections");
                }
            }
        })
    }

    /// The account's refresh lock: whoever changes its tokens holds it.
    pub(crate) fn flight(&self, account_id: &str) -> Arc<tokio::sync::Mutex<()>> {
        lock(&self.inner.flights)
            .entry(account_id.to_string())
            .or_default()
            .clone()
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

    /// Stores a refresh answer: the rotated refresh token first (guarded by the generation
    /// read before the request), then the access token. If a newer sign-in replaced the refresh
    /// token meanwhile, this answer belongs to the old one and is dropped.
    async fn keep(
        &self,
        account_id: &str,
        generation: i64,
        answer: &crate::sign_in::TokenAnswer,
    ) -> Result<AccessToken, TokenError> {
        let inner = &self.inner;
        let sealed = answer.refresh_token().map(|new| {
            inner
                .sealer
                .seal(new.secret(), &refresh_token_aad(account_id))
        });
        let current = inner
            .store
            .record_refresh(account_id, generation, sealed.as_deref())
            .await
            .map_err(SignInError::from)?;
        if !current {
            tracing::info!(account = %account_id, "the account signed in again during a refresh; kept the newer sign-in");
            return self.fresh(account_id).ok_or_else(|| {
                TokenError::Unavailable("the account signed in again meanwhile".into())
            });
        }
        let lifetime = lifetime_secs(answer.expires_in());
        let t = now();
        let token = AccessToken {
            token: SecretString::from(answer.access_token().secret().to_string()),
            expires_at: t.saturating_add(lifetime),
        };
        lock(&inner.cache).insert(
            account_id.to_string(),
            Cached {
                token: token.token.clone(),
                obtained_at: t,
                expires_at: token.expires_at,
            },
        );
        tracing::debug!(account = %account_id, lifetime, "access token refreshed");
        Ok(token)
    }

    async fn refresh(&self, account_id: &str) -> Result<AccessToken, TokenError> {
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
        let generation = record.refresh_generation;
        let app = AccountApp::load(&record, &inner.providers, &inner.sealer)?;
        let refresh_token = inner
            .sealer
            .open(sealed, &refresh_token_aad(account_id))
            .map_err(|_| SignInError::Seal)?;
        let client = app.client(&inner.redirect_uri)?;
        let cx = problems::Context {
            redirect_uri: &inner.redirect_uri,
            mailbox: &app.mailbox,
            scopes: &app.scopes,
        };
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
                Err(RequestTokenError::Request(e)) => e.is_transient(),
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
            match answer {
                Ok(a) => return self.keep(account_id, generation, &a).await,
                Err(RequestTokenError::ServerResponse(e)) if !transient => {
                    let problem = problems::from_microsoft(
                        e.error().as_ref(),
                        e.error_description().map(String::as_str),
                        &cx,
                    );
                    let json = serde_json::to_string(&problem).expect("the problem serialises");
                    let for_good = *e.error() == BasicErrorResponseType::InvalidGrant;
                    // Only if this refresh token is still the account's: a newer sign-in wins.
                    let current = inner
                        .store
                        .mark_refresh_refused(account_id, generation, &json, for_good)
                        .await
                        .map_err(SignInError::from)?;
                    if !current {
                        return self.fresh(account_id).ok_or_else(|| {
                            TokenError::Unavailable("the account signed in again meanwhile".into())
                        });
                    }
                    self.forget(account_id);
                    tracing::warn!(account = %account_id, code = ?problem.code, for_good, "refresh refused");
                    return Err(if for_good {
                        TokenError::NeedsSignIn(problem)
                    } else {
                        TokenError::AppRefused(problem)
                    });
                }
                Err(RequestTokenError::ServerResponse(_)) | Err(RequestTokenError::Request(_)) => {
                    tracing::warn!(account = %account_id, "refresh failed; the account stays connected");
                    return Err(TokenError::Unavailable(
                        "the token endpoint cannot be reached or is failing".into(),
                    ));
                }
                Err(e) => {
                    tracing::warn!(account = %account_id, error = %e, "refresh answer unreadable");
                    return Err(TokenError::Unavailable(
                        "the token endpoint's answer is not a token response".into(),
                    ));
                }
            }
        }
        Err(TokenError::Unavailable("retries exhausted".into()))
    }
}
