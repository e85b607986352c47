//! Webhook endpoints and the outbox of events and their deliveries. Events are recorded inside
//! the transaction of the change that caused them ([`record_event`]), so a change is never
//! committed without its event, nor an event without its change.

use mailkey_app::webhooks::{DeliveryState, EventType};
use rand::RngCore;

use super::{now, StorageError};

/// A stored endpoint, never its secret.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct EndpointRecord {
    pub id: String,
    pub url: String,
    pub description: String,
    pub organisation_id: Option<String>,
    pub all_events: bool,
    pub enabled: bool,
    /// Turned off by Mailkey because the receiver answered 410 Gone.
    pub gone: bool,
    pub created_at: i64,
    pub updated_at: i64,
    /// Empty when `all_events`.
    #[sqlx(skip)]
    pub event_types: Vec<EventType>,
}

const ENDPOINT_COLUMNS: &str = "id, url, description, organisation_id, all_events, enabled, \
    COALESCE(disabled_reason = 'gone', FALSE) AS gone, created_at, updated_at";

pub struct NewEndpointRecord<'a> {
    pub id: &'a str,
    pub url: &'a str,
    pub description: &'a str,
    pub organisation_id: Option<&'a str>,
    /// `None`: every event type.
    pub event_types: Option<&'a [EventType]>,
    pub enabled: bool,
    pub sealed_secret: &'a [u8],
}

/// What a change sets; `None` leaves it.
#[derive(Default)]
pub struct EndpointUpdate<'a> {
    pub url: Option<&'a str>,
    pub description: Option<&'a str>,
    /// `Some(None)`: every event type; `Some(Some(types))`: those.
    pub event_types: Option<Option<&'a [EventType]>>,
    pub enabled: Option<bool>,
}

/// An event to record: its type, the account it is about (whose and its organisation's IDs are
/// copied into the event), and the details of its type.
#[derive(Default)]
pub struct NewEvent<'a> {
    pub event_type: Option<EventType>,
    pub account_id: Option<&'a str>,
    pub reason_code: Option<&'a str>,
    pub reason: Option<&'a str>,
    pub expires_on: Option<&'a str>,
    pub days_left: Option<i64>,
    /// Only to this endpoint, whatever it subscribes to (a test event).
    pub only_endpoint: Option<&'a str>,
}

impl<'a> NewEvent<'a> {
    pub fn about(event_type: EventType, account_id: &'a str) -> NewEvent<'a> {
        NewEvent {
            event_type: Some(event_type),
            account_id: Some(account_id),
            ..NewEvent::default()
        }
    }
}

/// An event as sent: every field the body is made of.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct EventRecord {
    pub id: String,
    #[sqlx(try_from = "String")]
    pub event_type: EventType,
    pub occurred_at: i64,
    pub organisation_id: Option<String>,
    pub organisation_external_id: Option<String>,
    pub account_id: Option<String>,
    pub account_external_id: Option<String>,
    pub account_name: Option<String>,
    pub mailbox: Option<String>,
    pub reason_code: Option<String>,
    pub reason: Option<String>,
    pub expires_on: Option<String>,
    pub days_left: Option<i64>,
}

/// A delivery taken by a worker: the event, where it goes and the sealed secret to sign with.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct DueDelivery {
    pub delivery_id: i64,
    pub endpoint_id: String,
    pub url: String,
    pub sealed_secret: Vec<u8>,
    pub attempts: i64,
    #[sqlx(flatten)]
    pub event: EventRecord,
}

/// The deliveries waiting: how many, and when the oldest was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct Backlog {
    pub pending: i64,
    pub oldest_created_at: Option<i64>,
}

/// One delivery as the portal and the API list it.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct DeliveryRecord {
    pub id: i64,
    pub event_id: String,
    #[sqlx(try_from = "String")]
    pub event_type: EventType,
    #[sqlx(try_from = "String")]
    pub state: DeliveryState,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_attempt_at: Option<i64>,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub delivered_at: Option<i64>,
    pub created_at: i64,
}

/// How an attempt ended.
pub enum AttemptOutcome<'a> {
    Delivered {
        status: u16,
    },
    /// Tried again at `retry_at`, or given up (`None`).
    Failed {
        status: Option<u16>,
        error: &'a str,
        retry_at: Option<i64>,
    },
    /// 410: this delivery fails, the endpoint is turned off and its other deliveries skipped.
    Gone,
}

/// Whose secret an expiry notice is about.
#[derive(Clone, Copy, Debug)]
pub enum NoticeSubject {
    /// An account's own app registration.
    Account,
    OperatorApp,
}

impl NoticeSubject {
    fn as_str(self) -> &'static str {
        match self {
            NoticeSubject::Account => "account",
            NoticeSubject::OperatorApp => "operator_app",
        }
    }
}

/// A new event ID (the `webhook-id`): `msg_` and 128 random bits.
fn new_event_id() -> String {
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    format!("msg_{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// Records `event` and a pending delivery for each endpoint that wants it, inside `tx`.
/// Returns the event's ID, or `None` when the account it is about does not exist.
pub(super) async fn record_event(
    tx: &mut super::Tx,
    event: &NewEvent<'_>,
) -> Result<Option<String>, StorageError> {
    let event_type = event
        .event_type
        .ok_or_else(|| StorageError::Corrupt("an event without a type".into()))?;
    let id = new_event_id();
    let t = now();
    // With an account: its organisation's and its own names are copied in (`None` inserts
    // nothing when the account is gone).
    let inserted = match event.account_id {
        Some(account) => on_tx!(tx, c => sqlx::query(
            "INSERT INTO webhook_events (id, event_type, occurred_at, organisation_id, \
               organisation_external_id, account_id, account_external_id, account_name, mailbox, \
               reason_code, reason, expires_on, days_left) \
             SELECT $1, $2, $3, o.id, o.external_id, a.id, a.external_id, a.name, a.email, \
               $4, $5, $6, $7 \
             FROM accounts a JOIN organisations o ON o.id = a.organisation_id WHERE a.id = $8",
        )
        .bind(&id)
        .bind(event_type.as_str())
        .bind(t)
        .bind(event.reason_code)
        .bind(event.reason)
        .bind(event.expires_on)
        .bind(event.days_left)
        .bind(account)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?,
        None => on_tx!(tx, c => sqlx::query(
            "INSERT INTO webhook_events (id, event_type, occurred_at, reason_code, reason, \
               expires_on, days_left) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&id)
        .bind(event_type.as_str())
        .bind(t)
        .bind(event.reason_code)
        .bind(event.reason)
        .bind(event.expires_on)
        .bind(event.days_left)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?,
    };
    if inserted == 0 {
        return Ok(None);
    }
    // The endpoints are read with a key-share lock (PostgreSQL): one being deleted meanwhile
    // is waited for and then passed over, rather than failing this whole change (a sign-in, a
    // deletion) on the delivery's foreign key.
    on_tx!(tx, c, dialect => sqlx::query(&format!(
        "INSERT INTO webhook_deliveries (event_id, endpoint_id, state, next_attempt_at, created_at) \
         SELECT $1, e.id, 'pending', $2, $2 FROM webhook_endpoints e \
         WHERE CASE WHEN $4 IS NOT NULL THEN e.id = $4 ELSE \
           e.enabled \
           AND (e.organisation_id IS NULL OR e.organisation_id = \
                (SELECT organisation_id FROM webhook_events WHERE id = $1)) \
           AND (e.all_events OR EXISTS (SELECT 1 FROM webhook_endpoint_events s \
                WHERE s.endpoint_id = e.id AND s.event_type = $3)) END{}",
        dialect.key_share("e")
    ))
    .bind(&id)
    .bind(t)
    .bind(event_type.as_str())
    .bind(event.only_endpoint)
    .execute(c)
    .await.map(|r| r.rows_affected()))?;
    super::notice_mails::queue_for_event(tx, &id, event_type).await?;
    Ok(Some(id))
}

async fn set_event_types(
    tx: &mut super::Tx,
    endpoint: &str,
    types: Option<&[EventType]>,
) -> Result<(), StorageError> {
    on_tx!(tx, c => sqlx::query("DELETE FROM webhook_endpoint_events WHERE endpoint_id = $1")
        .bind(endpoint)
        .execute(c)
        .await.map(|r| r.rows_affected()))?;
    for t in types.unwrap_or_default() {
        on_tx!(tx, c => sqlx::query(
            "INSERT INTO webhook_endpoint_events (endpoint_id, event_type) VALUES ($1, $2) \
             ON CONFLICT DO NOTHING",
        )
        .bind(endpoint)
        .bind(t.as_str())
        .execute(c)
        .await.map(|r| r.rows_affected()))?;
    }
    on_tx!(tx, c => sqlx::query("UPDATE webhook_endpoints SET all_events = $1 WHERE id = $2")
        .bind(types.is_none())
        .bind(endpoint)
        .execute(c)
        .await.map(|r| r.rows_affected()))?;
    Ok(())
}

/// Webhook endpoints, the events recorded for them and their deliveries (the outbox).
#[async_trait::async_trait]
pub trait WebhookOutbox: Send + Sync + std::fmt::Debug {
    /// Records an event that no other change comes with (a test event, an expiry notice).
    async fn record_event(&self, event: &NewEvent<'_>) -> Result<Option<String>, StorageError>;

    async fn insert_webhook_endpoint(&self, e: &NewEndpointRecord<'_>) -> Result<(), StorageError>;

    /// The endpoints, of one organisation when `organisation` is given (a restricted key sees
    /// only its own).
    async fn webhook_endpoints(
        &self,
        organisation: Option<&str>,
    ) -> Result<Vec<EndpointRecord>, StorageError>;

    async fn webhook_endpoint(
        &self,
        id: &str,
        organisation: Option<&str>,
    ) -> Result<Option<EndpointRecord>, StorageError>;

    /// Applies `change`; enabling clears the reason Mailkey turned it off. False if none.
    async fn update_webhook_endpoint(
        &self,
        id: &str,
        change: &EndpointUpdate<'_>,
    ) -> Result<bool, StorageError>;

    /// Forgets an endpoint with its deliveries. False if there was none.
    async fn delete_webhook_endpoint(&self, id: &str) -> Result<bool, StorageError>;

    /// Takes up to `limit` deliveries that are due and not taken by a live worker, for
    /// `lease` seconds.
    async fn take_due_deliveries(
        &self,
        lease: i64,
        limit: i64,
    ) -> Result<Vec<DueDelivery>, StorageError>;

    /// Records how an attempt of `delivery` to `endpoint` ended, and lets go of it.
    async fn finish_delivery_attempt(
        &self,
        delivery: i64,
        endpoint: &str,
        outcome: AttemptOutcome<'_>,
    ) -> Result<(), StorageError>;

    /// An endpoint's latest deliveries, newest first.
    async fn deliveries_of(
        &self,
        endpoint: &str,
        limit: i64,
    ) -> Result<Vec<DeliveryRecord>, StorageError>;

    /// Sends an event of `endpoint`'s again, as a new delivery with the same `webhook-id`.
    /// `None` when the endpoint has no such delivery.
    async fn redeliver(&self, endpoint: &str, delivery: i64) -> Result<Option<i64>, StorageError>;

    /// How many endpoints an organisation has (`None`: those of every organisation).
    async fn webhook_endpoint_count(&self, organisation: Option<&str>)
        -> Result<i64, StorageError>;

    /// Forgets finished deliveries and notice e-mails made before `before`, and events none refers to any more
    /// (they copy an account's name and mailbox, which are not kept longer than needed).
    async fn prune_webhooks(&self, before: i64) -> Result<u64, StorageError>;

    /// The deliveries still waiting to be sent or retried, for the metrics.
    async fn delivery_backlog(&self) -> Result<Backlog, StorageError>;

    /// Records that the notice for `threshold` days before `expires_on` of a subject is sent,
    /// with its event, once: false if it was already.
    async fn record_expiry_notice(
        &self,
        subject: NoticeSubject,
        subject_id: &str,
        expires_on: &str,
        threshold: i64,
        event: &NewEvent<'_>,
    ) -> Result<bool, StorageError>;
}

per_database! {
    impl WebhookOutbox {
        async fn record_event(&self, event: &NewEvent<'_>) -> Result<Option<String>, StorageError> {
            let mut tx = self.begin().await?;
            let id = record_event(&mut tx, event).await?;
            tx.commit().await?;
            Ok(id)
        }

        async fn insert_webhook_endpoint(
            &self,
            e: &NewEndpointRecord<'_>,
        ) -> Result<(), StorageError> {
            let mut tx = self.begin().await?;
            let t = now();
            on_tx!(&mut tx, c => sqlx::query(
                "INSERT INTO webhook_endpoints (id, url, description, organisation_id, all_events, \
                   enabled, sealed_secret, created_at, updated_at) VALUES ($1, $2, $3, $4, TRUE, $5, $6, $7, $8)",
            )
            .bind(e.id)
            .bind(e.url)
            .bind(e.description)
            .bind(e.organisation_id)
            .bind(e.enabled)
            .bind(e.sealed_secret)
            .bind(t)
            .bind(t)
            .execute(c)
            .await.map(|r| r.rows_affected()))?;
            set_event_types(&mut tx, e.id, e.event_types).await?;
            tx.commit().await?;
            Ok(())
        }

        async fn webhook_endpoints(
            &self,
            organisation: Option<&str>,
        ) -> Result<Vec<EndpointRecord>, StorageError> {
            let mut endpoints = on_db!(self, pool => sqlx::query_as::<_, EndpointRecord>(&format!(
                "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints \
                 WHERE $1 IS NULL OR organisation_id = $1 ORDER BY created_at, id"
            ))
            .bind(organisation)
            .fetch_all(pool)
            .await)?;
            for e in &mut endpoints {
                e.event_types = self.event_types_of(&e.id).await?;
            }
            Ok(endpoints)
        }

        async fn webhook_endpoint(
            &self,
            id: &str,
            organisation: Option<&str>,
        ) -> Result<Option<EndpointRecord>, StorageError> {
            let found = on_db!(self, pool => sqlx::query_as::<_, EndpointRecord>(&format!(
                "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints \
                 WHERE id = $1 AND ($2 IS NULL OR organisation_id = $2)"
            ))
            .bind(id)
            .bind(organisation)
            .fetch_optional(pool)
            .await)?;
            let Some(mut e) = found else {
                return Ok(None);
            };
            e.event_types = self.event_types_of(&e.id).await?;
            Ok(Some(e))
        }

        async fn update_webhook_endpoint(
            &self,
            id: &str,
            change: &EndpointUpdate<'_>,
        ) -> Result<bool, StorageError> {
            let mut tx = self.begin().await?;
            let found = on_tx!(&mut tx, c => sqlx::query(
                "UPDATE webhook_endpoints SET url = COALESCE($1, url), \
                   description = COALESCE($2, description), enabled = COALESCE($3, enabled), \
                   disabled_reason = CASE WHEN $3 THEN NULL ELSE disabled_reason END, \
                   updated_at = $4 WHERE id = $5",
            )
            .bind(change.url)
            .bind(change.description)
            .bind(change.enabled)
            .bind(now())
            .bind(id)
            .execute(c)
            .await.map(|r| r.rows_affected()))?
                == 1;
            if found {
                if let Some(types) = change.event_types {
                    set_event_types(&mut tx, id, types).await?;
                }
                if change.enabled == Some(false) {
                    on_tx!(&mut tx, c => sqlx::query(
                        "UPDATE webhook_deliveries SET state = 'skipped', \
                         last_error = 'not sent: the endpoint was turned off' \
                         WHERE endpoint_id = $1 AND state = 'pending'",
                    )
                    .bind(id)
                    .execute(c)
                    .await.map(|r| r.rows_affected()))?;
                }
            }
            tx.commit().await?;
            Ok(found)
        }

        async fn delete_webhook_endpoint(&self, id: &str) -> Result<bool, StorageError> {
            Ok(
                on_db!(self, pool => sqlx::query("DELETE FROM webhook_endpoints WHERE id = $1")
                .bind(id)
                .execute(pool)
                .await.map(|r| r.rows_affected()))?
                    == 1,
            )
        }

        async fn take_due_deliveries(
            &self,
            lease: i64,
            limit: i64,
        ) -> Result<Vec<DueDelivery>, StorageError> {
            let t = now();
            let mut tx = self.begin().await?;
            // Two instances taking at once must not take one delivery twice. The outer condition
            // is checked again on a row another transaction just took (PostgreSQL re-reads it
            // after waiting for its lock; the subquery's answer alone would still name it), and on
            // PostgreSQL rows being taken are passed over rather than waited for, so instances
            // share the queue. SQLite runs the statement under its one write lock.
            let ids: Vec<i64> = on_tx!(&mut tx, c, dialect => sqlx::query_scalar(&format!(
                "UPDATE webhook_deliveries SET locked_until = $1 + $2 WHERE id IN ( \
                   SELECT d.id FROM webhook_deliveries d \
                   JOIN webhook_endpoints p ON p.id = d.endpoint_id \
                   JOIN webhook_events e ON e.id = d.event_id \
                   WHERE d.state = 'pending' AND d.next_attempt_at <= $1 \
                   AND (d.locked_until IS NULL OR d.locked_until < $1) \
                   AND (p.enabled OR e.event_type = 'webhook.test') \
                   ORDER BY d.next_attempt_at, d.id LIMIT $3{}) \
                 AND state = 'pending' AND (locked_until IS NULL OR locked_until < $1) RETURNING id",
                dialect.skip_locked("d")
            ))
            .bind(t)
            .bind(lease)
            .bind(limit)
            .fetch_all(c)
            .await)?;
            let mut due = Vec::with_capacity(ids.len());
            for id in ids {
                due.push(
                    on_tx!(&mut tx, c => sqlx::query_as::<_, DueDelivery>(
                        "SELECT d.id AS delivery_id, d.endpoint_id, p.url, p.sealed_secret, d.attempts, \
                           e.id, e.event_type, e.occurred_at, e.organisation_id, \
                           e.organisation_external_id, e.account_id, e.account_external_id, \
                           e.account_name, e.mailbox, e.reason_code, e.reason, e.expires_on, \
                           e.days_left \
                         FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id \
                         JOIN webhook_endpoints p ON p.id = d.endpoint_id WHERE d.id = $1",
                    )
                    .bind(id)
                    .fetch_one(c)
                    .await)?,
                );
            }
            tx.commit().await?;
            Ok(due)
        }

        async fn finish_delivery_attempt(
            &self,
            delivery: i64,
            endpoint: &str,
            outcome: AttemptOutcome<'_>,
        ) -> Result<(), StorageError> {
            let t = now();
            let mut tx = self.begin().await?;
            let (state, status, error, next) = match &outcome {
                AttemptOutcome::Delivered { status } => {
                    (DeliveryState::Delivered, Some(*status), None, None)
                }
                AttemptOutcome::Failed {
                    status,
                    error,
                    retry_at,
                } => (
                    if retry_at.is_some() {
                        DeliveryState::Pending
                    } else {
                        DeliveryState::Failed
                    },
                    *status,
                    Some(*error),
                    *retry_at,
                ),
                AttemptOutcome::Gone => (
                    DeliveryState::Failed,
                    Some(410),
                    Some("the receiver answered 410 Gone: the endpoint was turned off"),
                    None,
                ),
            };
            // Gone turns the endpoint off before any of its deliveries is touched: every path locks
            // an endpoint before its deliveries (turning it off, deleting it), so two deliveries
            // answered 410 together cannot each hold what the other waits for.
            if matches!(outcome, AttemptOutcome::Gone) {
                on_tx!(&mut tx, c => sqlx::query(
                    "UPDATE webhook_endpoints SET enabled = FALSE, disabled_reason = 'gone', \
                     updated_at = $1 WHERE id = $2",
                )
                .bind(t)
                .bind(endpoint)
                .execute(c)
                .await.map(|r| r.rows_affected()))?;
            }
            on_tx!(&mut tx, c => sqlx::query(
                "UPDATE webhook_deliveries SET state = $1, attempts = attempts + 1, \
                   last_attempt_at = $2, last_status = $3, last_error = $4, \
                   next_attempt_at = COALESCE($5, next_attempt_at), locked_until = NULL, \
                   delivered_at = CASE WHEN $6 = 'delivered' THEN $7 ELSE delivered_at END \
                 WHERE id = $8 AND state = 'pending'",
            )
            .bind(state.as_str())
            .bind(t)
            .bind(status.map(i64::from))
            .bind(error)
            .bind(next)
            .bind(state.as_str())
            .bind(t)
            .bind(delivery)
            .execute(c)
            .await.map(|r| r.rows_affected()))?;
            if matches!(outcome, AttemptOutcome::Gone) {
                on_tx!(&mut tx, c => sqlx::query(
                    "UPDATE webhook_deliveries SET state = 'skipped', locked_until = NULL, \
                     last_error = 'not sent: the endpoint was turned off (410 Gone)' \
                     WHERE endpoint_id = $1 AND state = 'pending'",
                )
                .bind(endpoint)
                .execute(c)
                .await.map(|r| r.rows_affected()))?;
            }
            tx.commit().await?;
            Ok(())
        }

        async fn deliveries_of(
            &self,
            endpoint: &str,
            limit: i64,
        ) -> Result<Vec<DeliveryRecord>, StorageError> {
            Ok(on_db!(self, pool => sqlx::query_as::<_, DeliveryRecord>(
                "SELECT d.id, d.event_id, e.event_type, d.state, d.attempts, d.next_attempt_at, \
                   d.last_attempt_at, d.last_status, d.last_error, d.delivered_at, d.created_at \
                 FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id \
                 WHERE d.endpoint_id = $1 ORDER BY d.created_at DESC, d.id DESC LIMIT $2",
            )
            .bind(endpoint)
            .bind(limit)
            .fetch_all(pool)
            .await)?)
        }

        async fn redeliver(
            &self,
            endpoint: &str,
            delivery: i64,
        ) -> Result<Option<i64>, StorageError> {
            let t = now();
            Ok(on_db!(self, pool => sqlx::query_scalar(
                "INSERT INTO webhook_deliveries (event_id, endpoint_id, state, next_attempt_at, \
                   created_at) \
                 SELECT event_id, endpoint_id, 'pending', $1, $2 FROM webhook_deliveries \
                 WHERE id = $3 AND endpoint_id = $4 RETURNING id",
            )
            .bind(t)
            .bind(t)
            .bind(delivery)
            .bind(endpoint)
            .fetch_optional(pool)
            .await)?)
        }

        async fn webhook_endpoint_count(
            &self,
            organisation: Option<&str>,
        ) -> Result<i64, StorageError> {
            Ok(
                on_db!(self, pool => sqlx::query_scalar("SELECT COUNT(*) FROM webhook_endpoints WHERE organisation_id IS NOT DISTINCT FROM $1")
                    .bind(organisation)
                    .fetch_one(pool)
                    .await)?,
            )
        }

        async fn delivery_backlog(&self) -> Result<Backlog, StorageError> {
            Ok(on_db!(self, pool => sqlx::query_as(
                "SELECT count(*) AS pending, min(created_at) AS oldest_created_at \
                 FROM webhook_deliveries WHERE state = 'pending'",
            )
            .fetch_one(pool)
            .await)?)
        }

        async fn prune_webhooks(&self, before: i64) -> Result<u64, StorageError> {
            let mut tx = self.begin().await?;
            let deliveries = on_tx!(&mut tx, c => sqlx::query(
                "DELETE FROM webhook_deliveries WHERE state <> 'pending' AND created_at < $1",
            )
            .bind(before)
            .execute(c)
            .await.map(|r| r.rows_affected()))?;
            on_tx!(&mut tx, c => sqlx::query(
                "DELETE FROM notice_mails WHERE state <> 'pending' AND created_at < $1",
            )
            .bind(before)
            .execute(c)
            .await.map(|r| r.rows_affected()))?;
            on_tx!(&mut tx, c => sqlx::query(
                "DELETE FROM webhook_events WHERE occurred_at < $1 AND NOT EXISTS \
                 (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = webhook_events.id) \
                 AND NOT EXISTS (SELECT 1 FROM notice_mails m WHERE m.event_id = webhook_events.id)",
            )
            .bind(before)
            .execute(c)
            .await.map(|r| r.rows_affected()))?;
            tx.commit().await?;
            Ok(deliveries)
        }

        async fn record_expiry_notice(
            &self,
            subject: NoticeSubject,
            subject_id: &str,
            expires_on: &str,
            threshold: i64,
            event: &NewEvent<'_>,
        ) -> Result<bool, StorageError> {
            let mut tx = self.begin().await?;
            let fresh = on_tx!(&mut tx, c => sqlx::query(
                "INSERT INTO expiry_notices (subject_kind, subject_id, expires_on, \
                   threshold, sent_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            )
            .bind(subject.as_str())
            .bind(subject_id)
            .bind(expires_on)
            .bind(threshold)
            .bind(now())
            .execute(c)
            .await.map(|r| r.rows_affected()))?
                == 1;
            if fresh {
                record_event(&mut tx, event).await?;
            }
            tx.commit().await?;
            Ok(fresh)
        }
    }

    impl {
        async fn event_types_of(&self, endpoint: &str) -> Result<Vec<EventType>, StorageError> {
            on_db!(self, pool => sqlx::query_scalar::<_, String>(
                "SELECT event_type FROM webhook_endpoint_events WHERE endpoint_id = $1 ORDER BY event_type",
            )
            .bind(endpoint)
            .fetch_all(pool)
            .await)?
            .into_iter()
            .map(|s| EventType::try_from(s).map_err(StorageError::Corrupt))
            .collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::storage::Store;

    /// Instances taking due deliveries at the same time never take one twice, and between
    /// them take every one.
    #[tokio::test]
    async fn two_instances_taking_deliveries_at_once_take_each_once() {
        let dir = tempfile::tempdir().unwrap();
        let location = super::super::testing::location(dir.path()).await;
        let a = Store::connect(&location).await.unwrap();
        let b = Store::connect(&location).await.unwrap();
        a.insert_webhook_endpoint(&NewEndpointRecord {
            id: "ep_1",
            url: "https://erp.example/hooks",
            description: "",
            organisation_id: None,
            event_types: None,
            enabled: true,
            sealed_secret: b"sealed",
        })
        .await
        .unwrap();
        for _ in 0..60 {
            a.record_event(&NewEvent {
                event_type: Some(EventType::OperatorAppSecretExpiring),
                days_left: Some(7),
                ..NewEvent::default()
            })
            .await
            .unwrap()
            .unwrap();
        }
        let drain = |store: Store| async move {
            let mut taken = Vec::new();
            loop {
                let due = store.take_due_deliveries(600, 3).await.unwrap();
                if due.is_empty() {
                    return taken;
                }
                taken.extend(due.into_iter().map(|d| d.delivery_id));
            }
        };
        let workers: Vec<_> = [a.clone(), a, b.clone(), b]
            .into_iter()
            .map(|s| tokio::spawn(drain(s)))
            .collect();
        let mut all = Vec::new();
        for w in workers {
            all.extend(w.await.unwrap());
        }
        let distinct: HashSet<_> = all.iter().collect();
        assert_eq!(
            distinct.len(),
            all.len(),
            "a delivery was taken twice: {all:?}"
        );
        assert_eq!(all.len(), 60);
    }

    /// An event recorded while an endpoint it goes to is being deleted is recorded (without a
    /// delivery to the deleted endpoint), never failed on the delivery's foreign key.
    #[tokio::test]
    async fn an_event_recorded_while_its_endpoint_is_deleted_is_still_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let store = super::super::testing::store(dir.path()).await;
        for i in 0..40 {
            let id = format!("ep_{i}");
            store
                .insert_webhook_endpoint(&NewEndpointRecord {
                    id: &id,
                    url: "https://erp.example/hooks",
                    description: "",
                    organisation_id: None,
                    event_types: None,
                    enabled: true,
                    sealed_secret: b"sealed",
                })
                .await
                .unwrap();
            let event = NewEvent {
                event_type: Some(EventType::OperatorAppSecretExpiring),
                ..NewEvent::default()
            };
            let (deleted, recorded) = tokio::join!(
                store.delete_webhook_endpoint(&id),
                store.record_event(&event)
            );
            assert!(deleted.unwrap());
            recorded.unwrap().unwrap();
        }
    }

    /// Many deliveries to one endpoint answered 410 at once (a batch is sent together) all
    /// finish: each locks the endpoint before its deliveries, so none waits on another in a
    /// circle (PostgreSQL would abort one as a deadlock).
    #[tokio::test]
    async fn a_batch_answered_gone_at_once_finishes_without_a_deadlock() {
        let dir = tempfile::tempdir().unwrap();
        let store = super::super::testing::store(dir.path()).await;
        store
            .insert_webhook_endpoint(&NewEndpointRecord {
                id: "ep_1",
                url: "https://erp.example/hooks",
                description: "",
                organisation_id: None,
                event_types: None,
                enabled: true,
                sealed_secret: b"sealed",
            })
            .await
            .unwrap();
        for _ in 0..12 {
            store
                .record_event(&NewEvent {
                    event_type: Some(EventType::OperatorAppSecretExpiring),
                    ..NewEvent::default()
                })
                .await
                .unwrap();
        }
        let due = store.take_due_deliveries(600, 100).await.unwrap();
        assert_eq!(due.len(), 12);
        let finishing: Vec<_> = due
            .into_iter()
            .map(|d| {
                let store = store.clone();
                tokio::spawn(async move {
                    store
                        .finish_delivery_attempt(d.delivery_id, "ep_1", AttemptOutcome::Gone)
                        .await
                })
            })
            .collect();
        for f in finishing {
            f.await.unwrap().unwrap();
        }
        let endpoint = store.webhook_endpoint("ep_1", None).await.unwrap().unwrap();
        assert!(endpoint.gone && !endpoint.enabled);
    }
}
