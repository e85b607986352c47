//! Probes for orchestrators: `/healthz` says the process answers, `/readyz` that it can serve
//! (the database responds, and the instance is not stopping).

use std::sync::{
    atomic::{AtomicBool, Ordering},
    Arc,
};

use axum::{extract::State, http::StatusCode, Json};
use serde_json::{json, Value};

use crate::storage::Store;

/// Whether the instance is stopping: from the stop signal on, `/readyz` says so, and a load
/// balancer sends new requests elsewhere while this instance still answers the ones it gets.
#[derive(Clone, Debug, Default)]
pub struct Readiness {
    draining: Arc<AtomicBool>,
}

impl Readiness {
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    pub fn draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }
}

pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

pub async fn readyz(
    State(store): State<Store>,
    State(readiness): State<Readiness>,
) -> (StatusCode, Json<Value>) {
    if readiness.draining() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "draining", "reason": "the instance is stopping" })),
        );
    }
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
