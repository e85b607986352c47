//! Webhooks in the `/api/v1` contract: the event types a host can subscribe to, its endpoints
//! and their deliveries. Add fields and event types, never rename or remove them within a version.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::PortalError;

/// What happened. Payloads are `{"type", "timestamp", "data"}` (Standard Webhooks); `data`
/// carries the organisation's and the account's IDs and `external_id`s.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum EventType {
    /// The mailbox signed in for the first time: the host can ask for tokens.
    #[serde(rename = "account.connected")]
    AccountConnected,
    /// The mailbox signed in again (after a reconnect, or a new sign-in of a connected one).
    #[serde(rename = "account.reconnected")]
    AccountReconnected,
    /// Microsoft refused the stored sign-in: the mailbox's user must sign in again
    /// (`data.reason` says why). Send them a connect session in reconnect mode.
    #[serde(rename = "account.needs_reconnect")]
    AccountNeedsReconnect,
    /// Microsoft refused the app's credentials (a wrong, expired or rotated client secret):
    /// refreshes stop until the secret is fixed; the mailbox keeps its sign-in.
    #[serde(rename = "account.app_refused")]
    AccountAppRefused,
    /// A connection test failed (`data.reason.code` is the diagnosis code).
    #[serde(rename = "account.connection_test_failed")]
    ConnectionTestFailed,
    /// The account's own app registration's client secret expires in 30, 7 or 1 days.
    #[serde(rename = "account.client_secret_expiring")]
    AccountSecretExpiring,
    /// The account was deleted: its tokens are gone.
    #[serde(rename = "account.deleted")]
    AccountDeleted,
    /// The operator's own app's client secret expires in 30, 7 or 1 days: every account on it
    /// stops refreshing then.
    #[serde(rename = "operator_app.secret_expiring")]
    OperatorAppSecretExpiring,
    /// Sent on request, to check an endpoint.
    #[serde(rename = "webhook.test")]
    WebhookTest,
}

impl EventType {
    pub const ALL: [EventType; 9] = [
        EventType::AccountConnected,
        EventType::AccountReconnected,
        EventType::AccountNeedsReconnect,
        EventType::AccountAppRefused,
        EventType::ConnectionTestFailed,
        EventType::AccountSecretExpiring,
        EventType::AccountDeleted,
        EventType::OperatorAppSecretExpiring,
        EventType::WebhookTest,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::AccountConnected => "account.connected",
            EventType::AccountReconnected => "account.reconnected",
            EventType::AccountNeedsReconnect => "account.needs_reconnect",
            EventType::AccountAppRefused => "account.app_refused",
            EventType::ConnectionTestFailed => "account.connection_test_failed",
            EventType::AccountSecretExpiring => "account.client_secret_expiring",
            EventType::AccountDeleted => "account.deleted",
            EventType::OperatorAppSecretExpiring => "operator_app.secret_expiring",
            EventType::WebhookTest => "webhook.test",
        }
    }

    pub fn parse(s: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// The events that also go to an organisation's notice address by e-mail: each says a
    /// mailbox stops working (or soon will) unless a person does something.
    pub const MAILED: [EventType; 3] = [
        EventType::AccountNeedsReconnect,
        EventType::AccountAppRefused,
        EventType::AccountSecretExpiring,
    ];
}

impl TryFrom<String> for EventType {
    type Error = String;

    fn try_from(s: String) -> Result<EventType, String> {
        EventType::parse(&s).ok_or_else(|| format!("unknown event type {s:?}"))
    }
}

/// Where a delivery stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum DeliveryState {
    /// Not yet answered with a 2xx; tried again at `next_attempt_at`.
    Pending,
    /// The receiver answered 2xx.
    Delivered,
    /// Every attempt failed (about three days of them), or the receiver answered 410.
    Failed,
    /// Not sent: the endpoint was disabled first.
    Skipped,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
            DeliveryState::Skipped => "skipped",
        }
    }
}

impl TryFrom<String> for DeliveryState {
    type Error = String;

    fn try_from(s: String) -> Result<DeliveryState, String> {
        [
            DeliveryState::Pending,
            DeliveryState::Delivered,
            DeliveryState::Failed,
            DeliveryState::Skipped,
        ]
        .into_iter()
        .find(|d| d.as_str() == s)
        .ok_or_else(|| format!("unknown delivery state {s:?}"))
    }
}

/// A webhook endpoint, never its secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct WebhookEndpoint {
    /// `whe_…`
    pub id: String,
    pub url: String,
    pub description: String,
    /// Only this organisation's events; absent: every organisation's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organisation_id: Option<String>,
    /// The event types sent; absent: every type, also those added later.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_types: Option<Vec<EventType>>,
    pub enabled: bool,
    /// Why Mailkey turned it off by itself: `gone` (the receiver answered 410).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// `POST /api/v1/webhook-endpoints`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct NewWebhookEndpoint {
    /// Where deliveries are POSTed: `https://…` (plain `http` only where the operator allows
    /// private hosts, for tests). Redirects are not followed.
    pub url: String,
    #[serde(default)]
    pub description: String,
    /// Only this organisation's events (Mailkey's ID). A key restricted to one organisation may
    /// leave it out: its own is taken.
    #[serde(default)]
    pub organisation_id: Option<String>,
    /// Or the organisation by the host's own ID.
    #[serde(default)]
    pub organisation_external_id: Option<String>,
    /// The event types to send; absent: all of them, also those added later.
    #[serde(default)]
    pub event_types: Option<Vec<EventType>>,
    /// Default true.
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// `PATCH /api/v1/webhook-endpoints/{id}`: what is given changes; enabling again clears
/// `disabled_reason`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct WebhookEndpointChange {
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// `[]` is refused; to send every type, set `all_events`.
    #[serde(default)]
    pub event_types: Option<Vec<EventType>>,
    /// True: every event type from now on (`event_types` is then ignored).
    #[serde(default)]
    pub all_events: Option<bool>,
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// The endpoint just made, with its signing secret: shown this once.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct CreatedWebhookEndpoint {
    #[serde(flatten)]
    pub endpoint: WebhookEndpoint,
    /// `whsec_…`: verify each delivery's `webhook-signature` with it (any Standard Webhooks
    /// library). Shown once; Mailkey keeps it sealed.
    pub secret: String,
}

/// Never the secret, wherever a value is printed.
impl std::fmt::Debug for CreatedWebhookEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedWebhookEndpoint")
            .field("endpoint", &self.endpoint)
            .field("secret", &"(redacted)")
            .finish()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct WebhookEndpointList {
    pub endpoints: Vec<WebhookEndpoint>,
}

/// One event sent (or to be sent) to one endpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct WebhookDelivery {
    pub id: i64,
    /// The `webhook-id`: the same on every attempt and on a redelivery.
    pub event_id: String,
    pub event_type: EventType,
    pub state: DeliveryState,
    pub attempts: i64,
    pub created_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempt_at: Option<i64>,
    /// The receiver's HTTP status at the last attempt, when it answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_status: Option<i64>,
    /// What went wrong at the last attempt, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered_at: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct WebhookDeliveryList {
    /// Newest first.
    pub deliveries: Vec<WebhookDelivery>,
}

/// The operator's webhooks page: each endpoint with its organisation's name and latest
/// deliveries. Endpoints are made over the API; the page shows them, sends test events and
/// redelivers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhooksView {
    pub endpoints: Vec<EndpointOverview>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointOverview {
    pub endpoint: WebhookEndpoint,
    /// The organisation's name, when the endpoint is restricted to one.
    pub organisation: Option<String>,
    /// Newest first.
    pub deliveries: Vec<WebhookDelivery>,
}

#[server(prefix = "/_fn", endpoint = "webhooks")]
pub async fn webhooks_page() -> Result<WebhooksView, PortalError> {
    let (backend, parts) = crate::backend::request_context()?;
    backend.0.webhooks(&parts).await
}

/// "Send a test event" (a plain form).
#[server(prefix = "/_fn", endpoint = "webhooks/test")]
pub async fn send_webhook_test(endpoint: String) -> Result<(), PortalError> {
    let (backend, parts) = crate::backend::request_context()?;
    backend.0.send_webhook_test(&parts, endpoint).await?;
    crate::backend::redirect("/webhooks?queued=test");
    Ok(())
}

/// "Send again" on a delivery (a plain form): the same event, same `webhook-id`.
#[server(prefix = "/_fn", endpoint = "webhooks/redeliver")]
pub async fn redeliver_webhook(endpoint: String, delivery: i64) -> Result<(), PortalError> {
    let (backend, parts) = crate::backend::request_context()?;
    backend
        .0
        .redeliver_webhook(&parts, endpoint, delivery)
        .await?;
    crate::backend::redirect("/webhooks?queued=again");
    Ok(())
}
