//! The portal's webhooks page: every endpoint with its organisation's name and latest
//! deliveries, a test event and a redelivery on request (as `/api/v1` offers the host).

use mailkey_app::{
    error::PortalError,
    webhooks::{EndpointOverview, WebhooksView},
};

use crate::{
    http::api_webhooks::{delivery_view, endpoint_view},
    storage::{StorageError, Store},
    webhooks::{WebhookError, Webhooks},
};

/// Deliveries shown per endpoint.
const SHOWN: i64 = 10;

fn storage(e: StorageError) -> PortalError {
    tracing::error!(error = %e, "the webhooks page could not read storage");
    PortalError::storage_unavailable()
}

fn refused(e: WebhookError) -> PortalError {
    match e {
        WebhookError::NotFound | WebhookError::DeliveryNotFound => PortalError::Server(
            "That endpoint or delivery is gone (deleted meanwhile). Reload the webhooks page."
                .into(),
        ),
        WebhookError::Invalid(_) => PortalError::Server("That request was not valid.".into()),
        WebhookError::Storage(e) => storage(e),
    }
}

pub async fn page(store: &Store) -> Result<WebhooksView, PortalError> {
    let organisations = store.organisations(None).await.map_err(storage)?;
    let mut endpoints = Vec::new();
    for e in store.webhook_endpoints(None).await.map_err(storage)? {
        let deliveries = store
            .deliveries_of(&e.id, SHOWN)
            .await
            .map_err(storage)?
            .into_iter()
            .map(delivery_view)
            .collect();
        let organisation = e.organisation_id.as_ref().map(|id| {
            organisations
                .iter()
                .find(|o| &o.id == id)
                .map_or_else(|| id.clone(), |o| o.name.clone())
        });
        endpoints.push(EndpointOverview {
            endpoint: endpoint_view(e),
            organisation,
            deliveries,
        });
    }
    Ok(WebhooksView { endpoints })
}

pub async fn send_test(webhooks: &Webhooks, endpoint: &str) -> Result<(), PortalError> {
    webhooks.send_test(endpoint, None).await.map_err(refused)?;
    Ok(())
}

pub async fn redeliver(
    webhooks: &Webhooks,
    endpoint: &str,
    delivery: i64,
) -> Result<(), PortalError> {
    webhooks
        .redeliver(endpoint, None, delivery)
        .await
        .map_err(refused)?;
    Ok(())
}
