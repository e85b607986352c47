//! A write is answered once every instance has taken it in: with several instances on one
//! PostgreSQL database, a key revoked through one is refused by all at their next request (see
//! [`crate::freshness`]). Nothing to wait for on SQLite.

use axum::{
    extract::{Request, State},
    middleware::Next,
    response::Response,
};

use crate::freshness::Freshness;

/// Marks an answer to a request that changed nothing other instances keep in memory (a token
/// handed out), which then need not wait.
#[derive(Clone, Copy, Debug)]
pub struct ChangedNothingKept;

/// After a request that may have written (not GET, HEAD or OPTIONS), waits until the change
/// reached every instance. A request refused for what it is (a bad body, no key, unknown,
/// throttled: the 4xx answers but 409) wrote nothing and does not wait, so a flood of them costs
/// the database nothing more.
pub async fn after_writes(
    State(freshness): State<Freshness>,
    request: Request,
    next: Next,
) -> Response {
    let may_write = !request.method().is_safe();
    let response = next.run(request).await;
    let status = response.status();
    let refused = status.is_client_error() && status != axum::http::StatusCode::CONFLICT;
    if may_write && !refused && response.extensions().get::<ChangedNothingKept>().is_none() {
        freshness.settle().await;
    }
    response
}
