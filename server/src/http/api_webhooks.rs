//! `/api/v1/webhook-endpoints`: where the host hears about its accounts. A key restricted to
//! one organisation manages only that organisation's endpoints (and an endpoint it makes is
//! restricted to its organisation).

use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use mailkey_app::{
    api::ErrorBody,
    webhooks::{
        CreatedWebhookEndpoint, NewWebhookEndpoint, WebhookDelivery, WebhookDeliveryList,
        WebhookEndpoint, WebhookEndpointChange, WebhookEndpointList,
    },
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{
    api_accounts::named_organisation,
    api_v1::Body,
    caller::{Allowed, ManageWebhooks},
    error::HttpError,
};
use crate::{
    storage::{DeliveryRecord, EndpointRecord, Store},
    webhooks::{Change, NewEndpoint, Webhooks},
};

pub fn endpoint_view(r: EndpointRecord) -> WebhookEndpoint {
    WebhookEndpoint {
        id: r.id,
        url: r.url,
        description: r.description,
        organisation_id: r.organisation_id,
        event_types: (!r.all_events).then_some(r.event_types),
        enabled: r.enabled,
        disabled_reason: r.gone.then(|| "gone".to_string()),
        created_at: r.created_at,
        updated_at: r.updated_at,
    }
}

pub fn delivery_view(r: DeliveryRecord) -> WebhookDelivery {
    let pending = r.state == mailkey_app::webhooks::DeliveryState::Pending;
    WebhookDelivery {
        id: r.id,
        event_id: r.event_id,
        event_type: r.event_type,
        state: r.state,
        attempts: r.attempts,
        created_at: r.created_at,
        next_attempt_at: pending.then_some(r.next_attempt_at),
        last_attempt_at: r.last_attempt_at,
        last_status: r.last_status,
        last_error: r.last_error,
        delivered_at: r.delivered_at,
    }
}

#[utoipa::path(post, path = "/webhook-endpoints", operation_id = "create_webhook_endpoint", tag = "webhooks",
    request_body = NewWebhookEndpoint, security(("api_key" = [])),
    responses(
        (status = 201, description = "Created; its signing secret is in the answer, this once", body = CreatedWebhookEndpoint),
        (status = 400, description = "A bad body, or refused values (invalid_fields)", body = ErrorBody),
        (status = 401, description = "No valid API key", body = ErrorBody),
        (status = 403, description = "Without webhooks.manage", body = ErrorBody),
        (status = 404, description = "No such organisation (or not the caller's)", body = ErrorBody),
    ))]
pub async fn create(
    State(store): State<Store>,
    State(webhooks): State<Webhooks>,
    allowed: Allowed<ManageWebhooks>,
    body: Body<NewWebhookEndpoint>,
) -> Result<Response, HttpError> {
    let b = body.0;
    let organisation_id = named_organisation(
        &store,
        &allowed.caller,
        b.organisation_id.as_deref(),
        b.organisation_external_id.as_deref(),
    )
    .await?;
    let (record, secret) = webhooks
        .create(NewEndpoint {
            url: b.url,
            description: b.description,
            organisation_id,
            event_types: b.event_types,
            enabled: b.enabled.unwrap_or(true),
        })
        .await?;
    tracing::info!(endpoint = %record.id, caller = %allowed.caller.label(), "webhook endpoint created");
    let answer = CreatedWebhookEndpoint {
        endpoint: endpoint_view(record),
        secret: secrecy::ExposeSecret::expose_secret(&secret).to_string(),
    };
    // The secret is not cached: every answer is `no-store` (security_headers).
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

#[utoipa::path(get, path = "/webhook-endpoints", operation_id = "list_webhook_endpoints", tag = "webhooks",
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The endpoints the caller may see", body = WebhookEndpointList),
        (status = 401, description = "No valid API key", body = ErrorBody),
        (status = 403, description = "Without webhooks.manage", body = ErrorBody),
    ))]
pub async fn list(
    State(store): State<Store>,
    allowed: Allowed<ManageWebhooks>,
) -> Result<Json<WebhookEndpointList>, HttpError> {
    let endpoints = store
        .webhook_endpoints(allowed.caller.organisation())
        .await?
        .into_iter()
        .map(endpoint_view)
        .collect();
    Ok(Json(WebhookEndpointList { endpoints }))
}

#[utoipa::path(get, path = "/webhook-endpoints/{id}", operation_id = "get_webhook_endpoint", tag = "webhooks",
    params(("id" = String, Path, description = "The endpoint's ID (whe_…)")),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The endpoint", body = WebhookEndpoint),
        (status = 401, description = "No valid API key", body = ErrorBody),
        (status = 404, description = "No such endpoint (or not the caller's)", body = ErrorBody),
    ))]
pub async fn get(
    State(webhooks): State<Webhooks>,
    allowed: Allowed<ManageWebhooks>,
    Path(id): Path<String>,
) -> Result<Json<WebhookEndpoint>, HttpError> {
    Ok(Json(endpoint_view(
        webhooks.get(&id, allowed.caller.organisation()).await?,
    )))
}

#[utoipa::path(patch, path = "/webhook-endpoints/{id}", operation_id = "update_webhook_endpoint", tag = "webhooks",
    params(("id" = String, Path, description = "The endpoint's ID (whe_…)")),
    request_body = WebhookEndpointChange, security(("api_key" = [])),
    responses(
        (status = 200, description = "Changed", body = WebhookEndpoint),
        (status = 400, description = "A bad body, or refused values (invalid_fields)", body = ErrorBody),
        (status = 401, description = "No valid API key", body = ErrorBody),
        (status = 404, description = "No such endpoint (or not the caller's)", body = ErrorBody),
    ))]
pub async fn update(
    State(webhooks): State<Webhooks>,
    allowed: Allowed<ManageWebhooks>,
    Path(id): Path<String>,
    body: Body<WebhookEndpointChange>,
) -> Result<Json<WebhookEndpoint>, HttpError> {
    let c = body.0;
    let record = webhooks
        .update(
            &id,
            allowed.caller.organisation(),
            Change {
                url: c.url,
                description: c.description,
                event_types: c.event_types,
                all_events: c.all_events,
                enabled: c.enabled,
            },
        )
        .await?;
    tracing::info!(endpoint = %id, caller = %allowed.caller.label(), "webhook endpoint changed");
    Ok(Json(endpoint_view(record)))
}

#[derive(Serialize, ToSchema)]
pub struct EndpointDeleted {
    deleted: bool,
}

#[utoipa::path(delete, path = "/webhook-endpoints/{id}", operation_id = "delete_webhook_endpoint", tag = "webhooks",
    params(("id" = String, Path, description = "The endpoint's ID (whe_…)")),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "Deleted, with its queued deliveries", body = EndpointDeleted),
        (status = 401, description = "No valid API key", body = ErrorBody),
        (status = 404, description = "No such endpoint (or not the caller's)", body = ErrorBody),
    ))]
pub async fn delete(
    State(webhooks): State<Webhooks>,
    allowed: Allowed<ManageWebhooks>,
    Path(id): Path<String>,
) -> Result<Json<EndpointDeleted>, HttpError> {
    webhooks.delete(&id, allowed.caller.organisation()).await?;
    tracing::info!(endpoint = %id, caller = %allowed.caller.label(), "webhook endpoint deleted");
    Ok(Json(EndpointDeleted { deleted: true }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveriesQuery {
    #[serde(default)]
    limit: Option<i64>,
}

#[utoipa::path(get, path = "/webhook-endpoints/{id}/deliveries", operation_id = "list_webhook_deliveries", tag = "webhooks",
    params(
        ("id" = String, Path, description = "The endpoint's ID (whe_…)"),
        ("limit" = Option<i64>, Query, description = "1 to 200, default 50"),
    ),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The latest deliveries, newest first", body = WebhookDeliveryList),
        (status = 400, description = "A bad query", body = ErrorBody),
        (status = 401, description = "No valid API key", body = ErrorBody),
        (status = 404, description = "No such endpoint (or not the caller's)", body = ErrorBody),
    ))]
pub async fn deliveries(
    State(store): State<Store>,
    State(webhooks): State<Webhooks>,
    allowed: Allowed<ManageWebhooks>,
    Path(id): Path<String>,
    query: Result<Query<DeliveriesQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<WebhookDeliveryList>, HttpError> {
    let Query(q) = query.map_err(|e| HttpError::InvalidQuery(e.body_text()))?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(HttpError::InvalidQuery(format!(
            "limit is {limit}; ask for 1 to 200 deliveries"
        )));
    }
    webhooks.get(&id, allowed.caller.organisation()).await?;
    let deliveries = store
        .deliveries_of(&id, limit)
        .await?
        .into_iter()
        .map(delivery_view)
        .collect();
    Ok(Json(WebhookDeliveryList { deliveries }))
}

#[derive(Serialize, ToSchema)]
pub struct Queued {
    /// The test event's `webhook-id`.
    #[serde(skip_serializing_if = "Option::is_none")]
    event_id: Option<String>,
    /// The new delivery's ID (a redelivery).
    #[serde(skip_serializing_if = "Option::is_none")]
    delivery_id: Option<i64>,
}

#[utoipa::path(post, path = "/webhook-endpoints/{id}/test", operation_id = "send_webhook_test", tag = "webhooks",
    params(("id" = String, Path, description = "The endpoint's ID (whe_…)")),
    security(("api_key" = [])),
    responses(
        (status = 202, description = "A webhook.test event is queued for this endpoint only", body = Queued),
        (status = 401, description = "No valid API key", body = ErrorBody),
        (status = 404, description = "No such endpoint (or not the caller's)", body = ErrorBody),
    ))]
pub async fn send_test(
    State(webhooks): State<Webhooks>,
    allowed: Allowed<ManageWebhooks>,
    Path(id): Path<String>,
) -> Result<Response, HttpError> {
    let event = webhooks
        .send_test(&id, allowed.caller.organisation())
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(Queued {
            event_id: Some(event),
            delivery_id: None,
        }),
    )
        .into_response())
}

#[utoipa::path(post, path = "/webhook-endpoints/{id}/deliveries/{delivery}/redeliver", operation_id = "redeliver_webhook", tag = "webhooks",
    params(
        ("id" = String, Path, description = "The endpoint's ID (whe_…)"),
        ("delivery" = i64, Path, description = "The delivery to send again (same webhook-id)"),
    ),
    security(("api_key" = [])),
    responses(
        (status = 202, description = "Queued again as a new delivery", body = Queued),
        (status = 401, description = "No valid API key", body = ErrorBody),
        (status = 404, description = "No such endpoint or delivery (or not the caller's)", body = ErrorBody),
    ))]
pub async fn redeliver(
    State(webhooks): State<Webhooks>,
    allowed: Allowed<ManageWebhooks>,
    Path((id, delivery)): Path<(String, String)>,
) -> Result<Response, HttpError> {
    // Parsed here: axum's own rejection of a non-number would be plain text.
    let delivery: i64 = delivery.parse().map_err(|_| HttpError::DeliveryNotFound)?;
    let new = webhooks
        .redeliver(&id, allowed.caller.organisation(), delivery)
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(Queued {
            event_id: None,
            delivery_id: Some(new),
        }),
    )
        .into_response())
}
