//! Webhook endpoints and the outbox of events and their deliveries. Events are recorded inside
//! the transaction of the change that caused them ([`record_event`]), so a change is never
//! committed without its event, nor an event without its change.

use mailkey_app::webhooks::{DeliveryState, EventType};
use rand::RngCore;
use sqlx::{Sqlite, Transaction};

use super::{now, StorageError, Store};

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
    disabled_reason IS 'gone' AS gone, created_at, updated_at";

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
    tx: &mut Transaction<'_, Sqlite>,
    event: &NewEvent<'_>,
) -> Result<Option<String>, StorageError> {
    let event_type = event
        .event_type
        .ok_or_else(|| StorageError::Corrupt("an event without a type".into()))?;
    let id = new_event_id();
    let t = now();
    let inserted = match event.account_id {
        Some(account) => sqlx::query(
            "INSERT INTO webhook_events (id, event_type, occurred_at, organisation_id, \
               organisation_external_id, account_id, account_external_id, account_name, mailbox, \
               reason_code, reason, expires_on, days_left) \
             SELECT ?, ?, ?, o.id, o.external_id, a.id, a.external_id, a.name, a.email, \
               ?, ?, ?, ? \
             FROM accounts a JOIN organisations o ON o.id = a.organisation_id WHERE a.id = ?",
        )
        .bind(&id)
        .bind(event_type.as_str())
        .bind(t)
        .bind(event.reason_code)
        .bind(event.reason)
        .bind(event.expires_on)
        .bind(event.days_left)
        .bind(account),
        None => sqlx::query(
            "INSERT INTO webhook_events (id, event_type, occurred_at, reason_code, reason, \
               expires_on, days_left) VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&id)
        .bind(event_type.as_str())
        .bind(t)
        .bind(event.reason_code)
        .bind(event.reason)
        .bind(event.expires_on)
        .bind(event.days_left),
    }
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if inserted == 0 {
        return Ok(None);
    }
    sqlx::query(
        "INSERT INTO webhook_deliveries (event_id, endpoint_id, state, next_attempt_at, created_at) \
         SELECT ?1, e.id, 'pending', ?2, ?2 FROM webhook_endpoints e \
         WHERE CASE WHEN ?4 IS NOT NULL THEN e.id = ?4 ELSE \
           e.enabled = 1 \
           AND (e.organisation_id IS NULL OR e.organisation_id IS \
                (SELECT organisation_id FROM webhook_events WHERE id = ?1)) \
           AND (e.all_events = 1 OR EXISTS (SELECT 1 FROM webhook_endpoint_events s \
                WHERE s.endpoint_id = e.id AND s.event_type = ?3)) END",
    )
    .bind(&id)
    .bind(t)
    .bind(event_type.as_str())
    .bind(event.only_endpoint)
    .execute(&mut **tx)
    .await?;
    Ok(Some(id))
}

async fn set_event_types(
    tx: &mut Transaction<'_, Sqlite>,
    endpoint: &str,
    types: Option<&[EventType]>,
) -> Result<(), StorageError> {
    sqlx::query("DELETE FROM webhook_endpoint_events WHERE endpoint_id = ?")
        .bind(endpoint)
        .execute(&mut **tx)
        .await?;
    for t in types.unwrap_or_default() {
        sqlx::query(
            "INSERT OR IGNORE INTO webhook_endpoint_events (endpoint_id, event_type) VALUES (?, ?)",
        )
        .bind(endpoint)
        .bind(t.as_str())
        .execute(&mut **tx)
        .await?;
    }
    sqlx::query("UPDATE webhook_endpoints SET all_events = ? WHERE id = ?")
        .bind(types.is_none())
        .bind(endpoint)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

impl Store {
    /// Records an event that no other change comes with (a test event, an expiry notice).
    pub async fn record_event(&self, event: &NewEvent<'_>) -> Result<Option<String>, StorageError> {
        let mut tx = self.pool.begin().await?;
        let id = record_event(&mut tx, event).await?;
        tx.commit().await?;
        Ok(id)
    }

    pub async fn insert_webhook_endpoint(
        &self,
        e: &NewEndpointRecord<'_>,
    ) -> Result<(), StorageError> {
        let mut tx = self.pool.begin().await?;
        let t = now();
        sqlx::query(
            "INSERT INTO webhook_endpoints (id, url, description, organisation_id, all_events, \
               enabled, sealed_secret, created_at, updated_at) VALUES (?, ?, ?, ?, 1, ?, ?, ?, ?)",
        )
        .bind(e.id)
        .bind(e.url)
        .bind(e.description)
        .bind(e.organisation_id)
        .bind(e.enabled)
        .bind(e.sealed_secret)
        .bind(t)
        .bind(t)
        .execute(&mut *tx)
        .await?;
        set_event_types(&mut tx, e.id, e.event_types).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The endpoints, of one organisation when `organisation` is given (a restricted key sees
    /// only its own).
    pub async fn webhook_endpoints(
        &self,
        organisation: Option<&str>,
    ) -> Result<Vec<EndpointRecord>, StorageError> {
        let mut endpoints = sqlx::query_as::<_, EndpointRecord>(&format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints \
             WHERE ?1 IS NULL OR organisation_id = ?1 ORDER BY created_at, id"
        ))
        .bind(organisation)
        .fetch_all(&self.pool)
        .await?;
        for e in &mut endpoints {
            e.event_types = self.event_types_of(&e.id).await?;
        }
        Ok(endpoints)
    }

    pub async fn webhook_endpoint(
        &self,
        id: &str,
        organisation: Option<&str>,
    ) -> Result<Option<EndpointRecord>, StorageError> {
        let found = sqlx::query_as::<_, EndpointRecord>(&format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints \
             WHERE id = ?1 AND (?2 IS NULL OR organisation_id = ?2)"
        ))
        .bind(id)
        .bind(organisation)
        .fetch_optional(&self.pool)
        .await?;
        let Some(mut e) = found else {
            return Ok(None);
        };
        e.event_types = self.event_types_of(&e.id).await?;
        Ok(Some(e))
    }

    async fn event_types_of(&self, endpoint: &str) -> Result<Vec<EventType>, StorageError> {
        sqlx::query_scalar::<_, String>(
            "SELECT event_type FROM webhook_endpoint_events WHERE endpoint_id = ? ORDER BY event_type",
        )
        .bind(endpoint)
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(|s| EventType::try_from(s).map_err(StorageError::Corrupt))
        .collect()
    }

    /// Applies `change`; enabling clears the reason Mailkey turned it off. False if none.
    pub async fn update_webhook_endpoint(
        &self,
        id: &str,
        change: &EndpointUpdate<'_>,
    ) -> Result<bool, StorageError> {
        let mut tx = self.pool.begin().await?;
        let found = sqlx::query(
            "UPDATE webhook_endpoints SET url = COALESCE(?, url), \
               description = COALESCE(?, description), enabled = COALESCE(?, enabled), \
               disabled_reason = CASE WHEN ? = 1 THEN NULL ELSE disabled_reason END, \
               updated_at = ? WHERE id = ?",
        )
        .bind(change.url)
        .bind(change.description)
        .bind(change.enabled)
        .bind(change.enabled)
        .bind(now())
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if found {
            if let Some(types) = change.event_types {
                set_event_types(&mut tx, id, types).await?;
            }
            if change.enabled == Some(false) {
                sqlx::query(
                    "UPDATE webhook_deliveries SET state = 'skipped', \
                     last_error = 'not sent: the endpoint was turned off' \
                     WHERE endpoint_id = ? AND state = 'pending'",
                )
                .bind(id)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(found)
    }

    /// Forgets an endpoint with its deliveries. False if there was none.
    pub async fn delete_webhook_endpoint(&self, id: &str) -> Result<bool, StorageError> {
        Ok(sqlx::query("DELETE FROM webhook_endpoints WHERE id = ?")
            .bind(id)
            .execute(&self.pool)
            .await?
            .rows_affected()
            == 1)
    }

    /// Takes up to `limit` deliveries that are due and not taken by a live worker, for
    /// `lease` seconds.
    pub async fn take_due_deliveries(
        &self,
        lease: i64,
        limit: i64,
    ) -> Result<Vec<DueDelivery>, StorageError> {
        let t = now();
        let mut tx = self.pool.begin().await?;
        let ids: Vec<i64> = sqlx::query_scalar(
            "UPDATE webhook_deliveries SET locked_until = ?1 + ?2 WHERE id IN ( \
               SELECT d.id FROM webhook_deliveries d \
               JOIN webhook_endpoints p ON p.id = d.endpoint_id \
               JOIN webhook_events e ON e.id = d.event_id \
               WHERE d.state = 'pending' AND d.next_attempt_at <= ?1 \
               AND (d.locked_until IS NULL OR d.locked_until < ?1) \
               AND (p.enabled = 1 OR e.event_type = 'webhook.test') \
               ORDER BY d.next_attempt_at, d.id LIMIT ?3) RETURNING id",
        )
        .bind(t)
        .bind(lease)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        let mut due = Vec::with_capacity(ids.len());
        for id in ids {
            due.push(
                sqlx::query_as::<_, DueDelivery>(
                    "SELECT d.id AS delivery_id, d.endpoint_id, p.url, p.sealed_secret, d.attempts, \
                       e.id, e.event_type, e.occurred_at, e.organisation_id, \
                       e.organisation_external_id, e.account_id, e.account_external_id, \
                       e.account_name, e.mailbox, e.reason_code, e.reason, e.expires_on, \
                       e.days_left \
                     FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id \
                     JOIN webhook_endpoints p ON p.id = d.endpoint_id WHERE d.id = ?",
                )
                .bind(id)
                .fetch_one(&mut *tx)
                .await?,
            );
        }
        tx.commit().await?;
        Ok(due)
    }

    /// Records how an attempt of `delivery` to `endpoint` ended, and lets go of it.
    pub async fn finish_delivery_attempt(
        &self,
        delivery: i64,
        endpoint: &str,
        outcome: AttemptOutcome<'_>,
    ) -> Result<(), StorageError> {
        let t = now();
        let mut tx = self.pool.begin().await?;
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
        sqlx::query(
            "UPDATE webhook_deliveries SET state = ?, attempts = attempts + 1, \
               last_attempt_at = ?, last_status = ?, last_error = ?, \
               next_attempt_at = COALESCE(?, next_attempt_at), locked_until = NULL, \
               delivered_at = CASE WHEN ? = 'delivered' THEN ? ELSE delivered_at END \
             WHERE id = ? AND state = 'pending'",
        )
        .bind(state.as_str())
        .bind(t)
        .bind(status.map(i64::from))
        .bind(error)
        .bind(next)
        .bind(state.as_str())
        .bind(t)
        .bind(delivery)
        .execute(&mut *tx)
        .await?;
        if matches!(outcome, AttemptOutcome::Gone) {
            sqlx::query(
                "UPDATE webhook_endpoints SET enabled = 0, disabled_reason = 'gone', \
                 updated_at = ? WHERE id = ?",
            )
            .bind(t)
            .bind(endpoint)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE webhook_deliveries SET state = 'skipped', locked_until = NULL, \
                 last_error = 'not sent: the endpoint was turned off (410 Gone)' \
                 WHERE endpoint_id = ? AND state = 'pending'",
            )
            .bind(endpoint)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// An endpoint's latest deliveries, newest first.
    pub async fn deliveries_of(
        &self,
        endpoint: &str,
        limit: i64,
    ) -> Result<Vec<DeliveryRecord>, StorageError> {
        Ok(sqlx::query_as::<_, DeliveryRecord>(
            "SELECT d.id, d.event_id, e.event_type, d.state, d.attempts, d.next_attempt_at, \
               d.last_attempt_at, d.last_status, d.last_error, d.delivered_at, d.created_at \
             FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id \
             WHERE d.endpoint_id = ? ORDER BY d.created_at DESC, d.id DESC LIMIT ?",
        )
        .bind(endpoint)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Sends an event of `endpoint`'s again, as a new delivery with the same `webhook-id`.
    /// `None` when the endpoint has no such delivery.
    pub async fn redeliver(
        &self,
        endpoint: &str,
        delivery: i64,
    ) -> Result<Option<i64>, StorageError> {
        let t = now();
        Ok(sqlx::query_scalar(
            "INSERT INTO webhook_deliveries (event_id, endpoint_id, state, next_attempt_at, \
               created_at) \
             SELECT event_id, endpoint_id, 'pending', ?, ? FROM webhook_deliveries \
             WHERE id = ? AND endpoint_id = ? RETURNING id",
        )
        .bind(t)
        .bind(t)
        .bind(delivery)
        .bind(endpoint)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// How many endpoints an organisation has (`None`: those of every organisation).
    pub async fn webhook_endpoint_count(
        &self,
        organisation: Option<&str>,
    ) -> Result<i64, StorageError> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM webhook_endpoints WHERE organisation_id IS ?")
                .bind(organisation)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// Forgets finished deliveries made before `before`, and events none refers to any more
    /// (they copy an account's name and mailbox, which are not kept longer than needed).
    pub async fn prune_webhooks(&self, before: i64) -> Result<u64, StorageError> {
        let mut tx = self.pool.begin().await?;
        let deliveries = sqlx::query(
            "DELETE FROM webhook_deliveries WHERE state <> 'pending' AND created_at < ?",
        )
        .bind(before)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        sqlx::query(
            "DELETE FROM webhook_events WHERE occurred_at < ? AND NOT EXISTS \
             (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = webhook_events.id)",
        )
        .bind(before)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(deliveries)
    }

    /// Records that the notice for `threshold` days before `expires_on` of a subject is sent,
    /// with its event, once: false if it was already.
    pub async fn record_expiry_notice(
        &self,
        subject: NoticeSubject,
        subject_id: &str,
        expires_on: &str,
        threshold: i64,
        event: &NewEvent<'_>,
    ) -> Result<bool, StorageError> {
        let mut tx = self.pool.begin().await?;
        let fresh = sqlx::query(
            "INSERT OR IGNORE INTO expiry_notices (subject_kind, subject_id, expires_on, \
               threshold, sent_at) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(subject.as_str())
        .bind(subject_id)
        .bind(expires_on)
        .bind(threshold)
        .bind(now())
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if fresh {
            record_event(&mut tx, event).await?;
        }
        tx.commit().await?;
        Ok(fresh)
    }
}
