//! Bounds on what one client can ask of Mailkey: a deadline for every request, rate limits on the
//! routes that spend something (a setup link guess, a round trip to Microsoft, a connection test
//! against a mail server), keyed by the client's address, and a cap on the live event streams one
//! browser session holds open.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{body::Body, http::Response, response::IntoResponse};
use governor::middleware::NoOpMiddleware;
use tower_governor::{
    governor::{GovernorConfig, GovernorConfigBuilder},
    key_extractor::PeerIpKeyExtractor,
    GovernorError, GovernorLayer,
};

use super::error::HttpError;

/// Every request's deadline. Above the 45 s a plain-form connection test waits for its run;
/// event streams are not cut by it (their answer starts at once; they have their own bounds).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Live event streams (sign-in, connection test) one browser session may hold open at once.
pub const STREAMS_PER_SESSION: usize = 8;

/// A rate limit per client address: `burst` requests at once, then one more every `every`.
#[derive(Clone, Copy, Debug)]
pub struct Limit {
    pub burst: u32,
    pub every: Duration,
}

/// Setup links: 256-bit tokens cannot be guessed, but nobody needs more than a few tries.
pub const SETUP_LINKS: Limit = Limit {
    burst: 10,
    every: Duration::from_secs(6),
};
/// Sign-in and admin-consent starts: each writes an attempt and sends the browser to Microsoft.
pub const SIGN_IN_STARTS: Limit = Limit {
    burst: 30,
    every: Duration::from_secs(2),
};
/// Connection tests: each connects to two mail servers and sends a message.
pub const CONNECTION_TESTS: Limit = Limit {
    burst: 10,
    every: Duration::from_secs(6),
};

pub type IpLimit = GovernorLayer<PeerIpKeyExtractor, NoOpMiddleware, Body>;

/// Connection tests of one account, whoever asks and from wherever: each sends a real message
/// through the customer's mailbox and signs in to its servers.
pub const TESTS_PER_ACCOUNT: Limit = Limit {
    burst: 5,
    every: Duration::from_secs(60),
};

impl Limit {
    /// This limit as a budget kept in the database (shared by every instance).
    pub fn as_budget(&self) -> crate::storage::TestBudget {
        crate::storage::TestBudget {
            burst: self.burst,
            every_ms: i64::try_from(self.every.as_millis()).unwrap_or(i64::MAX),
        }
    }
}

impl Limit {
    /// `rate` a second, and twice as many at once.
    pub fn per_second(rate: u32) -> Limit {
        let rate = rate.max(1);
        Limit {
            burst: rate.saturating_mul(2),
            every: Duration::from_nanos(1_000_000_000 / u64::from(rate)),
        }
    }
}

/// Whose budget an API request spends: its key's, else its address's.
#[derive(Clone, Copy, Debug)]
pub struct KeyOrIp;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Spender {
    Key([u8; 16]),
    Ip(IpAddr),
}

impl tower_governor::key_extractor::KeyExtractor for KeyOrIp {
    type Key = Spender;

    fn extract<T>(&self, req: &axum::http::Request<T>) -> Result<Spender, GovernorError> {
        if let Some(bearer) = req
            .headers()
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
        {
            use sha2::Digest;
            let digest = sha2::Sha256::digest(bearer.trim().as_bytes());
            let mut key = [0u8; 16];
            key.copy_from_slice(&digest[..16]);
            return Ok(Spender::Key(key));
        }
        req.extensions()
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| Spender::Ip(c.0.ip()))
            .ok_or(GovernorError::UnableToExtractKey)
    }
}

pub type ApiLimit = GovernorLayer<KeyOrIp, NoOpMiddleware, Body>;

/// `/api/v1`'s limit, per API key (by its hash: the secret is never kept as a map key), else
/// per client address: a host's backend may ask often, but one key or address cannot take the
/// server. Answered like every limit here.
pub fn per_key_or_ip(limit: &Limit) -> ApiLimit {
    let config: GovernorConfig<KeyOrIp, NoOpMiddleware> = GovernorConfigBuilder::default()
        .period(limit.every)
        .burst_size(limit.burst)
        .key_extractor(KeyOrIp)
        .finish()
        .expect("the limits are non-zero");
    let config = Arc::new(config);
    if tokio::runtime::Handle::try_current().is_ok() {
        let cleanup = config.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(300));
            loop {
                every.tick().await;
                cleanup.limiter().retain_recent();
            }
        });
    }
    GovernorLayer::new(config).error_handler(refusal)
}

/// A layer enforcing `limit` per peer address, refusing with the API's JSON error shape, a 429
/// and `Retry-After`.
pub fn per_ip(limit: &Limit) -> IpLimit {
    let config: GovernorConfig<PeerIpKeyExtractor, NoOpMiddleware> =
        GovernorConfigBuilder::default()
            .period(limit.every)
            .burst_size(limit.burst)
            .key_extractor(PeerIpKeyExtractor)
            .finish()
            .expect("the limits are non-zero");
    let config = Arc::new(config);
    spawn_cleanup(config.clone());
    GovernorLayer::new(config).error_handler(refusal)
}

/// Forgets addresses not seen for a while, so the limiter's memory stays bounded.
fn spawn_cleanup(config: Arc<GovernorConfig<PeerIpKeyExtractor, NoOpMiddleware>>) {
    if tokio::runtime::Handle::try_current().is_err() {
        return;
    }
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(300));
        loop {
            every.tick().await;
            config.limiter().retain_recent();
        }
    });
}

fn refusal(e: GovernorError) -> Response<Body> {
    match e {
        GovernorError::TooManyRequests { wait_time, .. } => {
            tracing::warn!(wait_secs = wait_time, "rate limit reached");
            HttpError::RateLimited {
                retry_after_secs: wait_time.max(1),
            }
            .into_response()
        }
        other => HttpError::Internal(format!("rate limit: {other}")).into_response(),
    }
}

/// Open event streams per browser session.
#[derive(Clone, Default)]
pub struct StreamCaps {
    open: Arc<Mutex<HashMap<[u8; 32], usize>>>,
}

impl std::fmt::Debug for StreamCaps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamCaps").finish_non_exhaustive()
    }
}

/// A place among a session's open streams, given back when the stream ends (or its client goes).
pub struct StreamSlot {
    caps: StreamCaps,
    session: [u8; 32],
}

impl StreamCaps {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], usize>> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A slot for one more stream of `session`, unless it holds [`STREAMS_PER_SESSION`].
    pub fn open(&self, session: [u8; 32]) -> Result<StreamSlot, HttpError> {
        let mut open = self.lock();
        let n = open.entry(session).or_default();
        if *n >= STREAMS_PER_SESSION {
            return Err(HttpError::TooManyStreams);
        }
        *n += 1;
        Ok(StreamSlot {
            caps: self.clone(),
            session,
        })
    }

    pub fn open_for(&self, session: &[u8; 32]) -> usize {
        self.lock().get(session).copied().unwrap_or(0)
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.caps.lock();
        if let Some(n) = open.get_mut(&self.session) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.session);
            }
        }
    }
}

/// The client address a limit is keyed on, for log lines.
pub fn peer(req: &axum::extract::Request) -> Option<IpAddr> {
    req.extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip())
}
