//! Prometheus metrics. Events are counted where they happen, through the `metrics` facade;
//! metrics-exporter-prometheus keeps them and writes Prometheus' text format. What the database
//! knows (accounts by state, secrets about to expire, the webhook backlog) is read when the
//! metrics are scraped, at most every [`SNAPSHOT_EVERY`], so a scrape costs a query or two.
//!
//! Names and labels are part of the interface: the README lists them with an example alert.

use std::{
    sync::{Arc, Mutex, OnceLock},
    time::{Duration, Instant},
};

use ::metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use mailkey_app::mail_test::{StageStatus, TestReport};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::{
    storage::{now, StorageError, Store},
    sync::lock,
};

pub const TOKENS_HANDED_OUT: &str = "mailkey_access_tokens_handed_out_total";
pub const TOKEN_SECONDS: &str = "mailkey_access_token_seconds";
pub const REFRESHES: &str = "mailkey_token_refreshes_total";
pub const CONNECTION_TESTS: &str = "mailkey_connection_tests_total";
pub const WEBHOOK_ATTEMPTS: &str = "mailkey_webhook_delivery_attempts_total";
pub const WEBHOOK_DELAY_SECONDS: &str = "mailkey_webhook_delivery_delay_seconds";
pub const WEBHOOK_BACKLOG: &str = "mailkey_webhook_deliveries_pending";
pub const WEBHOOK_OLDEST_SECONDS: &str = "mailkey_webhook_oldest_pending_seconds";
pub const NOTICE_MAILS: &str = "mailkey_notice_mails_total";
pub const ACCOUNTS: &str = "mailkey_accounts";
pub const SECRETS_EXPIRING: &str = "mailkey_client_secrets_expiring_30d";
pub const SECRETS_EXPIRED: &str = "mailkey_client_secrets_expired";

/// How old the database's figures may be when scraped.
pub const SNAPSHOT_EVERY: Duration = Duration::from_secs(15);

/// How a refresh of an account's token ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// A new access token; Microsoft kept the refresh token.
    Fresh,
    /// A new access token and a new refresh token.
    Rotated,
    /// Microsoft refused the sign-in: a person must sign in again.
    NeedsReconnect,
    /// Microsoft refused the app's credentials (the operator fixes them).
    AppRefused,
    /// Microsoft could not be reached, failed or asked to wait.
    ProviderUnavailable,
    /// Another instance held the account's refresh lease past it.
    LeaseTimeout,
    /// Cut off at shutdown past the grace it had.
    Interrupted,
}

impl RefreshOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            RefreshOutcome::Fresh => "fresh",
            RefreshOutcome::Rotated => "rotated",
            RefreshOutcome::NeedsReconnect => "needs_reconnect",
            RefreshOutcome::AppRefused => "app_refused",
            RefreshOutcome::ProviderUnavailable => "provider_unavailable",
            RefreshOutcome::LeaseTimeout => "lease_timeout",
            RefreshOutcome::Interrupted => "interrupted",
        }
    }
}

/// The process's recorder, made once: several servers in one process (the tests) share it.
static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

fn handle() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let seconds = [
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            30.0,
        ];
        let delays = [
            1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 14_400.0, 86_400.0,
        ];
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(TOKEN_SECONDS.into()), &seconds)
            .and_then(|b| {
                b.set_buckets_for_metric(Matcher::Full(WEBHOOK_DELAY_SECONDS.into()), &delays)
            })
            .expect("the buckets are not empty")
            .build_recorder();
        let handle = recorder.handle();
        if ::metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("another metrics recorder is installed: /metrics stays empty");
        }
        describe();
        handle
    })
}

fn describe() {
    describe_counter!(
        TOKENS_HANDED_OUT,
        "Access tokens handed out through the host API"
    );
    describe_histogram!(
        TOKEN_SECONDS,
        ::metrics::Unit::Seconds,
        "How long handing out an access token took, a refresh included when one was needed"
    );
    describe_counter!(
        REFRESHES,
        "Token refreshes at the identity provider, by outcome (fresh, rotated, needs_reconnect, \
         app_refused, provider_unavailable, lease_timeout, interrupted)"
    );
    describe_counter!(
        CONNECTION_TESTS,
        "Connection tests, by outcome (passed, failed) and the first stage that failed"
    );
    describe_counter!(
        WEBHOOK_ATTEMPTS,
        "Webhook delivery attempts, by outcome (delivered, failed, given_up, gone)"
    );
    describe_histogram!(
        WEBHOOK_DELAY_SECONDS,
        ::metrics::Unit::Seconds,
        "How long after its event a webhook delivery was attempted"
    );
    describe_gauge!(
        WEBHOOK_BACKLOG,
        "Webhook deliveries waiting to be sent or retried"
    );
    describe_gauge!(
        WEBHOOK_OLDEST_SECONDS,
        ::metrics::Unit::Seconds,
        "Age of the oldest webhook delivery still waiting (0 when none)"
    );
    describe_counter!(
        NOTICE_MAILS,
        "Notice e-mails to organisations, by outcome (sent, failed, given_up, skipped)"
    );
    describe_gauge!(ACCOUNTS, "Accounts, by state");
    describe_gauge!(
        SECRETS_EXPIRING,
        "Client secrets (accounts' own app registrations and the operator app) that expire \
         within 30 days"
    );
    describe_gauge!(
        SECRETS_EXPIRED,
        "Client secrets (accounts' own app registrations and the operator app) already expired"
    );
}

/// An access token handed out, and how long it took.
pub fn token_handed_out(took: Duration) {
    counter!(TOKENS_HANDED_OUT).increment(1);
    histogram!(TOKEN_SECONDS).record(took.as_secs_f64());
}

pub fn refreshed(outcome: RefreshOutcome) {
    counter!(REFRESHES, "outcome" => outcome.as_str()).increment(1);
}

/// A connection test's outcome, and the first stage that failed (`none` when it passed).
pub fn connection_tested(report: &TestReport) {
    let failed_stage = report
        .stages
        .iter()
        .find(|s| s.status == StageStatus::Failed)
        .map_or("none", |s| s.stage.as_str());
    let outcome = if report.ok { "passed" } else { "failed" };
    counter!(CONNECTION_TESTS, "outcome" => outcome, "failed_stage" => failed_stage).increment(1);
}

/// A webhook delivery attempt's outcome, and how long after its event it was made.
pub fn webhook_attempted(outcome: &'static str, event_occurred_at: i64) {
    counter!(WEBHOOK_ATTEMPTS, "outcome" => outcome).increment(1);
    histogram!(WEBHOOK_DELAY_SECONDS).record((now() - event_occurred_at).max(0) as f64);
}

/// A notice e-mail attempt's outcome.
pub fn notice_mailed(outcome: &'static str) {
    counter!(NOTICE_MAILS, "outcome" => outcome).increment(1);
}

/// The scrape: the counters kept in memory, with the database's figures read afresh when older
/// than [`SNAPSHOT_EVERY`].
#[derive(Clone)]
pub struct Scrape {
    store: Store,
    taken: Arc<Mutex<Option<Instant>>>,
}

impl std::fmt::Debug for Scrape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scrape").finish_non_exhaustive()
    }
}

impl Scrape {
    /// Installs the recorder (once per process) and answers scrapes from `store`.
    pub fn new(store: Store) -> Scrape {
        handle();
        Scrape {
            store,
            taken: Arc::default(),
        }
    }

    /// The metrics in Prometheus' text format.
    pub async fn render(&self) -> String {
        let due = lock(&self.taken).is_none_or(|t| t.elapsed() >= SNAPSHOT_EVERY);
        if due {
            match self.snapshot().await {
                Ok(()) => *lock(&self.taken) = Some(Instant::now()),
                Err(e) => {
                    tracing::warn!(error = %e, "the database's figures for /metrics could not be read")
                }
            }
        }
        let handle = handle();
        handle.run_upkeep();
        handle.render()
    }

    async fn snapshot(&self) -> Result<(), StorageError> {
        use mailkey_app::{api::AccountState, rules::dates::Day};
        let accounts = self.store.list_accounts().await?;
        for state in AccountState::ALL {
            let n = accounts.iter().filter(|a| a.state == state).count();
            gauge!(ACCOUNTS, "state" => state.as_str()).set(n as f64);
        }
        let today = Day::today();
        let apps = self.store.operator_apps().await?;
        let days_left = accounts
            .iter()
            .filter_map(|a| a.secret_expires.as_deref())
            .chain(apps.iter().filter_map(|a| a.secret_expires.as_deref()))
            .filter_map(Day::parse)
            .map(|d| d.0 - today.0);
        let (mut expiring, mut expired) = (0u32, 0u32);
        for left in days_left {
            if left < 0 {
                expired += 1;
            } else if left <= 30 {
                expiring += 1;
            }
        }
        gauge!(SECRETS_EXPIRING).set(f64::from(expiring));
        gauge!(SECRETS_EXPIRED).set(f64::from(expired));
        let backlog = self.store.delivery_backlog().await?;
        gauge!(WEBHOOK_BACKLOG).set(backlog.pending as f64);
        gauge!(WEBHOOK_OLDEST_SECONDS)
            .set(backlog.oldest_created_at.map_or(0, |t| (now() - t).max(0)) as f64);
        Ok(())
    }
}
