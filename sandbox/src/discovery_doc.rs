//! `GET /sandbox/{tenant}/v2.0/.well-known/openid-configuration`, shaped like Microsoft's, and
//! refusing an unknown tenant the way Microsoft does (400, `invalid_tenant`, AADSTS90002).

use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use serde_json::json;

use super::SandboxState;

pub async fn openid_configuration(
    State(state): State<SandboxState>,
    Path(tenant): Path<String>,
) -> Response {
    let Some(sandbox) = state.sandbox.as_ref() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    // As Microsoft's: `organizations` has endpoints of its own and an issuer template, since the
    // tenant is only known from the token.
    let (base, issuer) = if super::protocol::is_organizations(&tenant) {
        let base = format!("{}/{}", sandbox.authority, super::protocol::ORGANIZATIONS);
        (base, format!("{}/{{tenantid}}/v2.0", sandbox.authority))
    } else {
        let Some(t) = sandbox.directory.tenant(&tenant) else {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({
                    "error": "invalid_tenant",
                    "error_description": format!(
                        "AADSTS90002: Tenant '{tenant}' not found. Check to make sure you have the \
                         correct tenant ID and are signing into the correct cloud."
                    ),
                    "error_codes": [90002],
                })),
            )
                .into_response();
        };
        let base = format!("{}/{}", sandbox.authority, t.id);
        (base.clone(), format!("{base}/v2.0"))
    };
    Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{base}/oauth2/v2.0/authorize"),
        "token_endpoint": format!("{base}/oauth2/v2.0/token"),
        "introspection_endpoint": format!("{base}/oauth2/v2.0/introspect"),
        "jwks_uri": format!("{base}/discovery/v2.0/keys"),
        "end_session_endpoint": format!("{base}/oauth2/v2.0/logout"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "form_post"],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["HS256"],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "name", "preferred_username", "email", "oid", "tid", "nonce"],
        "tenant_region_scope": "SANDBOX",
        "cloud_instance_name": "mailkey sandbox",
    }))
    .into_response()
}
