//! The delivery worker: takes due deliveries from the outbox (a lease on each, so a worker that
//! dies lets go by itself, and several instances never send one twice at once), signs and POSTs
//! them, and records the outcome: a 2xx ends a delivery, `410 Gone` turns the endpoint off,
//! anything else is tried again on a schedule of about three days.

use std::time::{Duration, Instant};

use secrecy::SecretString;

use super::{payload, signature};
use crate::{
    secrets::{Aad, Sealer},
    storage::{now, AttemptOutcome, DueDelivery, StorageError, Store},
};

/// Seconds to wait after each failed attempt: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h,
/// 24 h. Ten attempts over about 3 days and 4 hours, then the delivery is given up.
pub const RETRY_AFTER: [i64; 9] = [
    5,
    5 * 60,
    30 * 60,
    2 * 3600,
    5 * 3600,
    10 * 3600,
    14 * 3600,
    20 * 3600,
    24 * 3600,
];

/// How long a worker holds a delivery it took: longer than an attempt can take.
const LEASE_SECS: i64 = 60;
/// Deliveries sent at once by one worker.
const BATCH: i64 = 16;
/// How often the worker looks for due deliveries when the last look found none to spare.
const IDLE_POLL: Duration = Duration::from_secs(1);

/// Finished deliveries (and their events) are kept this long for the portal and the API.
pub const KEEP_SECS: i64 = 30 * 86_400;
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// The sealing context of an endpoint's signing secret.
pub fn secret_aad(endpoint: &str) -> Aad<'_> {
    Aad {
        table: "webhook_endpoints",
        row: endpoint,
        field: "sealed_secret",
    }
}

#[derive(Clone)]
pub struct Worker {
    pub store: Store,
    pub sealer: Sealer,
    pub client: reqwest::Client,
}

impl Worker {
    /// Runs until aborted.
    pub async fn run(self) {
        let mut pruned = Instant::now() - PRUNE_EVERY;
        loop {
            if pruned.elapsed() >= PRUNE_EVERY {
                pruned = Instant::now();
                match self.store.prune_webhooks(now() - KEEP_SECS).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(deliveries = n, "old webhook deliveries forgotten"),
                    Err(e) => {
                        tracing::error!(error = %e, "old webhook deliveries could not be forgotten")
                    }
                }
                // Ended connect sessions, a day on (the same hourly pass over old rows).
                if let Err(e) = self.store.prune_connect_sessions(now() - 86_400).await {
                    tracing::error!(error = %e, "ended connect sessions could not be forgotten");
                }
            }
            match self.round().await {
                Ok(n) if n as i64 == BATCH => continue,
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "webhook deliveries could not be read"),
            }
            tokio::time::sleep(IDLE_POLL).await;
        }
    }

    /// Sends what is due now; how many deliveries it took.
    pub async fn round(&self) -> Result<usize, StorageError> {
        let due = self.store.take_due_deliveries(LEASE_SECS, BATCH).await?;
        let n = due.len();
        let sends = due.into_iter().map(|d| self.attempt(d));
        for result in futures_util::future::join_all(sends).await {
            if let Err(e) = result {
                tracing::error!(error = %e, "a webhook delivery's outcome could not be kept");
            }
        }
        Ok(n)
    }

    async fn attempt(&self, d: DueDelivery) -> Result<(), StorageError> {
        let started = Instant::now();
        let result = self.send(&d).await;
        let attempts = d.attempts + 1;
        let retry_at = || {
            RETRY_AFTER
                .get((attempts - 1) as usize)
                .map(|wait| now() + wait)
        };
        let outcome = match &result {
            Ok(status) if (200..300).contains(status) => {
                AttemptOutcome::Delivered { status: *status }
            }
            Ok(410) => AttemptOutcome::Gone,
            Ok(status) => AttemptOutcome::Failed {
                status: Some(*status),
                error: if (300..400).contains(status) {
                    "the receiver answered with a redirect, which is not followed: give the final URL"
                } else {
                    "the receiver did not answer 2xx"
                },
                retry_at: retry_at(),
            },
            Err(why) => AttemptOutcome::Failed {
                status: None,
                error: why,
                retry_at: retry_at(),
            },
        };
        let given_up = matches!(outcome, AttemptOutcome::Failed { retry_at: None, .. });
        crate::metrics::webhook_attempted(
            match outcome {
                AttemptOutcome::Delivered { .. } => "delivered",
                AttemptOutcome::Gone => "gone",
                AttemptOutcome::Failed { .. } if given_up => "given_up",
                AttemptOutcome::Failed { .. } => "failed",
            },
            d.event.occurred_at,
        );
        tracing::info!(
            delivery = d.delivery_id,
            endpoint = %d.endpoint_id,
            event = %d.event.id,
            event_type = d.event.event_type.as_str(),
            attempt = attempts,
            status = result.as_ref().ok(),
            error = result.as_ref().err().map(String::as_str),
            given_up,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "webhook delivery attempted"
        );
        self.store
            .finish_delivery_attempt(d.delivery_id, &d.endpoint_id, outcome)
            .await
    }

    /// POSTs the delivery: the receiver's status, or why there was none (never a secret).
    async fn send(&self, d: &DueDelivery) -> Result<u16, String> {
        let secret: SecretString = self
            .sealer
            .open(&d.sealed_secret, &secret_aad(&d.endpoint_id))
            .map_err(|_| {
                "the endpoint's signing secret cannot be opened with this master key".to_string()
            })?;
        let body = payload::body(&d.event);
        let timestamp = now();
        let signature = signature::sign(&secret, &d.event.id, timestamp, &body)?;
        let response = self
            .client
            .post(&d.url)
            .header("content-type", "application/json")
            .header("webhook-id", &d.event.id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await
            .map_err(|e| describe(&e))?;
        Ok(response.status().as_u16())
    }
}

/// A failed request in words, for the portal and the API (reqwest's own text names the URL,
/// which the endpoint's page shows anyway, and its causes).
fn describe(e: &reqwest::Error) -> String {
    use std::error::Error;
    if e.is_timeout() {
        return "no answer within 15 seconds".into();
    }
    let mut words = if e.is_connect() {
        "could not connect".to_string()
    } else {
        "the request failed".to_string()
    };
    let mut source = e.source();
    while let Some(s) = source {
        words.push_str(": ");
        words.push_str(&s.to_string());
        source = s.source();
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_spans_about_three_days() {
        let total: i64 = RETRY_AFTER.iter().sum();
        assert!((3 * 86_400..4 * 86_400).contains(&total), "{total}");
        assert!(RETRY_AFTER.windows(2).all(|w| w[0] < w[1]));
    }
}
