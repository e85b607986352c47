//! Probes for orchestrators: `/healthz` says the process answers, `/readyz` that it can serve
//! (the database responds).

use axum::{extract::State, http::StatusCode, Json};
use serde_json::{json, Value};

use crate::storage::Store;

pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

pub async fn readyz(State(store): State<Store>) -> (StatusCode, Json<Value>) {
    match store.ping().await {
        Ok(()) => (StatusCode::OK, Json(json!({ "status": "ready" }))),
        Err(e) => {
            tracing::error!(error = %e, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "unavailable", "reason": "database not answering" })),
            )
        }
    }
}
