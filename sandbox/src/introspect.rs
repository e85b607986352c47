//! `POST /sandbox/{tenant}/oauth2/v2.0/introspect` (RFC 7662), for the test mail servers: whether
//! an access token the sandbox issued is valid, for whom (as `email`, `username` and `sub`, the
//! fields mail servers read) and with which scopes. A bad token gets
//! HTTP 200 `{"active": false}`, which Dovecot's oauth2 passdb reads as "refused" (a 401 would be
//! a temporary failure to it).

use std::collections::HashMap;

use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    Form, Json,
};
use serde_json::json;

use super::SandboxState;

pub async fn introspect(
    State(state): State<SandboxState>,
    Path(tenant): Path<String>,
    Form(p): Form<HashMap<String, String>>,
) -> Response {
    let Some(sandbox) = state.sandbox.as_ref() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let Some(t) = sandbox.directory.tenant(&tenant) else {
        return (StatusCode::OK, Json(json!({"active": false}))).into_response();
    };
    let token = p.get("token").map(String::as_str).unwrap_or("");
    let claims = sandbox.grants.introspect(token).filter(|c| {
        c["tid"]
            .as_str()
            .is_some_and(|tid| tid.eq_ignore_ascii_case(&t.id))
    });
    let Some(c) = claims else {
        return Json(json!({"active": false})).into_response();
    };
    Json(json!({
        "active": true,
        "token_type": "Bearer",
        "scope": c["scp"],
        "client_id": c["appid"],
        // What mail servers read as the user: Dovecot's oauth2 passdb `email` by default,
        // others `username` or `sub`.
        "email": c["upn"],
        "username": c["upn"],
        "sub": c["upn"],
        "aud": c["aud"],
        "iss": c["iss"],
        "exp": c["exp"],
        "iat": c["iat"],
    }))
    .into_response()
}
