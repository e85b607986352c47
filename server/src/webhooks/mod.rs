//! Webhooks: the host's endpoints, and the durable delivery of what happened to its accounts.
//! Events are written by storage inside the change that caused them; [`delivery::Worker`] sends
//! them. Endpoint rules (which URLs, which event types) live here, not in the HTTP handlers.

pub mod delivery;
pub mod notices;
pub mod payload;
pub mod signature;
pub mod target;

use std::collections::BTreeMap;

use mailkey_app::webhooks::EventType;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};

use crate::{
    secrets::Sealer,
    storage::{EndpointRecord, EndpointUpdate, NewEndpointRecord, NewEvent, StorageError, Store},
};

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// Refused values, each field with what is wrong.
    #[error("some values are not valid")]
    Invalid(BTreeMap<String, String>),
    #[error("no such webhook endpoint")]
    NotFound,
    #[error("no such delivery")]
    DeliveryNotFound,
    #[error(transparent)]
    Storage(#[from] StorageError),
}

fn invalid(field: &str, why: impl Into<String>) -> WebhookError {
    WebhookError::Invalid(BTreeMap::from([(field.to_string(), why.into())]))
}

/// A new endpoint as asked for; the organisation already resolved and allowed.
pub struct NewEndpoint {
    pub url: String,
    pub description: String,
    pub organisation_id: Option<String>,
    pub event_types: Option<Vec<EventType>>,
    pub enabled: bool,
}

/// A change as asked for.
pub struct Change {
    pub url: Option<String>,
    pub description: Option<String>,
    pub event_types: Option<Vec<EventType>>,
    pub all_events: Option<bool>,
    pub enabled: Option<bool>,
}

#[derive(Clone)]
pub struct Webhooks {
    store: Store,
    sealer: Sealer,
    allow_private: bool,
    client: reqwest::Client,
}

/// Endpoints per organisation (and unrestricted ones): every event goes to each, so many would
/// turn one event into many requests.
pub const MAX_ENDPOINTS: i64 = 20;

fn new_endpoint_id() -> String {
    let mut raw = [0u8; 8];
    rand::rng().fill_bytes(&mut raw);
    format!(
        "whe_{}",
        raw.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

fn check_description(d: &str) -> Result<String, String> {
    let d = d.trim();
    if d.chars().count() > 200 || d.chars().any(char::is_control) {
        return Err("a description is at most 200 characters on one line".into());
    }
    Ok(d.to_string())
}

fn check_types(types: &[EventType]) -> Result<Vec<EventType>, String> {
    if types.is_empty() {
        return Err(
            "name at least one event type, or leave event_types out to get every type".into(),
        );
    }
    let mut t = types.to_vec();
    t.sort();
    t.dedup();
    Ok(t)
}

impl Webhooks {
    pub fn new(store: Store, sealer: Sealer, allow_private: bool) -> Webhooks {
        Webhooks {
            store,
            sealer,
            allow_private,
            client: target::client(allow_private),
        }
    }

    pub fn worker(&self) -> delivery::Worker {
        delivery::Worker {
            store: self.store.clone(),
            sealer: self.sealer.clone(),
            client: self.client.clone(),
        }
    }

    /// Starts the delivery worker and the expiry notices.
    pub fn spawn(&self, notices: notices::Notices) -> Vec<tokio::task::JoinHandle<()>> {
        vec![
            tokio::spawn(self.worker().run()),
            tokio::spawn(notices.run()),
        ]
    }

    fn check_url(&self, url: &str) -> Result<String, String> {
        target::check_url(url, self.allow_private).map(|u| u.to_string())
    }

    /// Makes an endpoint; its signing secret is answered this once.
    pub async fn create(
        &self,
        new: NewEndpoint,
    ) -> Result<(EndpointRecord, SecretString), WebhookError> {
        // Every value is checked before anything is written, and every refusal is answered.
        let url = self.check_url(&new.url);
        let description = check_description(&new.description);
        let types = new.event_types.as_deref().map(check_types).transpose();
        if self
            .store
            .webhook_endpoint_count(new.organisation_id.as_deref())
            .await?
            >= MAX_ENDPOINTS
        {
            return Err(invalid(
                "url",
                format!(
                    "there are {MAX_ENDPOINTS} endpoints for these events already, the most \
                     there may be; delete one you no longer use, or send several kinds of event \
                     to one endpoint"
                ),
            ));
        }
        let (Ok(url), Ok(description), Ok(types)) = (&url, &description, &types) else {
            let problems = [
                ("url", url.err()),
                ("description", description.err()),
                ("event_types", types.err()),
            ]
            .into_iter()
            .filter_map(|(field, e)| Some((field.to_string(), e?)))
            .collect();
            return Err(WebhookError::Invalid(problems));
        };
        let id = new_endpoint_id();
        let secret = signature::new_secret();
        let sealed = self
            .sealer
            .seal(secret.expose_secret(), &delivery::secret_aad(&id));
        self.store
            .insert_webhook_endpoint(&NewEndpointRecord {
                id: &id,
                url,
                description,
                organisation_id: new.organisation_id.as_deref(),
                event_types: types.as_deref(),
                enabled: new.enabled,
                sealed_secret: &sealed,
            })
            .await?;
        let record = self
            .store
            .webhook_endpoint(&id, None)
            .await?
            .ok_or(WebhookError::NotFound)?;
        Ok((record, secret))
    }

    /// The endpoint, if the caller (restricted to `only`) may see it.
    pub async fn get(&self, id: &str, only: Option<&str>) -> Result<EndpointRecord, WebhookError> {
        self.store
            .webhook_endpoint(id, only)
            .await?
            .ok_or(WebhookError::NotFound)
    }

    pub async fn update(
        &self,
        id: &str,
        only: Option<&str>,
        change: Change,
    ) -> Result<EndpointRecord, WebhookError> {
        self.get(id, only).await?;
        let url = change
            .url
            .as_deref()
            .map(|u| self.check_url(u))
            .transpose()
            .map_err(|e| invalid("url", e))?;
        let description = change
            .description
            .as_deref()
            .map(check_description)
            .transpose()
            .map_err(|e| invalid("description", e))?;
        let types = match (change.all_events, &change.event_types) {
            (Some(true), _) => Some(None),
            (_, Some(t)) => Some(Some(check_types(t).map_err(|e| invalid("event_types", e))?)),
            (Some(false), None) => {
                return Err(invalid(
                    "all_events",
                    "all_events false needs event_types: name the types the endpoint gets",
                ))
            }
            (None, None) => None,
        };
        self.store
            .update_webhook_endpoint(
                id,
                &EndpointUpdate {
                    url: url.as_deref(),
                    description: description.as_deref(),
                    event_types: types.as_ref().map(|t| t.as_deref()),
                    enabled: change.enabled,
                },
            )
            .await?;
        self.get(id, only).await
    }

    pub async fn delete(&self, id: &str, only: Option<&str>) -> Result<(), WebhookError> {
        self.get(id, only).await?;
        self.store.delete_webhook_endpoint(id).await?;
        Ok(())
    }

    /// Queues a `webhook.test` event for this endpoint only (also when it is disabled: a
    /// receiver can be checked before it is turned on). Its event ID.
    pub async fn send_test(&self, id: &str, only: Option<&str>) -> Result<String, WebhookError> {
        let endpoint = self.get(id, only).await?;
        let event = NewEvent {
            event_type: Some(EventType::WebhookTest),
            reason_code: Some("test"),
            reason: Some(payload::TEST_REASON),
            only_endpoint: Some(&endpoint.id),
            ..NewEvent::default()
        };
        self.store
            .record_event(&event)
            .await?
            .ok_or(WebhookError::NotFound)
    }

    /// Sends one of the endpoint's deliveries again (same `webhook-id`): the new delivery's ID.
    pub async fn redeliver(
        &self,
        id: &str,
        only: Option<&str>,
        delivery: i64,
    ) -> Result<i64, WebhookError> {
        self.get(id, only).await?;
        self.store
            .redeliver(id, delivery)
            .await?
            .ok_or(WebhookError::DeliveryNotFound)
    }
}
