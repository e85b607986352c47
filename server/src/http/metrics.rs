//! `/metrics`: Prometheus' scrape. On the main address only with `metrics_token` set, and then
//! only for a request that presents it; on `metrics_listen`, an address of its own, too.

use std::sync::Arc;

use axum::{
    extract::State,
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
    Router,
};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use crate::metrics::Scrape;

/// Who may scrape.
#[derive(Clone, Debug)]
pub struct MetricsAccess {
    pub scrape: Scrape,
    /// `None`: anyone who reaches the address (only on `metrics_listen`).
    pub token: Option<Arc<SecretString>>,
}

/// The router of `metrics_listen`: `/metrics` and nothing else.
pub fn own_address(access: MetricsAccess) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .with_state(access)
}

/// `GET /metrics`.
pub async fn scrape(State(access): State<MetricsAccess>, headers: HeaderMap) -> Response {
    if let Some(token) = &access.token {
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        // Digests compared, not the tokens: how long the comparison takes says nothing
        // about the token.
        if Sha256::digest(presented) != Sha256::digest(token.expose_secret()) {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                "send the metrics token as `Authorization: Bearer <metrics_token>`\n",
            )
                .into_response();
        }
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        access.scrape.render().await,
    )
        .into_response()
}
