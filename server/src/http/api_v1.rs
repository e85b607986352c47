//! `/api/v1`: the versioned JSON API for host applications. Independent of the portal's server
//! functions, so the UI can change without breaking integrations.

use axum::{
    extract::{Path, State},
    http::header,
    response::{IntoResponse, Response},
    routing::get,
    Json, Router,
};
use std::sync::Arc;

use mailkey_app::api::{AccessTokenAnswer, AccessTokenRequest, ErrorBody};
use utoipa::{
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
    Modify, OpenApi,
};
use utoipa_axum::router::OpenApiRouter;

use super::{
    caller::{Allowed, Caller, IssueTokens},
    error::HttpError,
};
use crate::{
    state::AppState,
    token_views::TokenViews,
    tokens::{TokenError, TokenKeeper},
};

/// The `/api/v1` routes, and the OpenAPI document that describes them: both come from the same
/// annotated handlers (utoipa), so a route cannot exist undocumented.
pub fn routes() -> Router<AppState> {
    let (router, doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(utoipa_axum::routes!(
            super::api_accounts::list,
            super::api_accounts::create
        ))
        .routes(utoipa_axum::routes!(
            super::api_accounts::get,
            super::api_accounts::delete
        ))
        .routes(utoipa_axum::routes!(access_token))
        .routes(utoipa_axum::routes!(super::tests_live::history))
        .routes(utoipa_axum::routes!(
            super::tests_live::folders,
            super::tests_live::save_folders
        ))
        .routes(utoipa_axum::routes!(
            super::api_organisations::list,
            super::api_organisations::create
        ))
        .routes(utoipa_axum::routes!(
            super::api_organisations::get,
            super::api_organisations::update,
            super::api_organisations::delete
        ))
        .routes(utoipa_axum::routes!(
            super::api_connect::get_origins,
            super::api_connect::set_origins
        ))
        .routes(utoipa_axum::routes!(super::api_connect::create))
        .routes(utoipa_axum::routes!(super::api_connect::revoke))
        .routes(utoipa_axum::routes!(
            super::api_webhooks::list,
            super::api_webhooks::create
        ))
        .routes(utoipa_axum::routes!(
            super::api_webhooks::get,
            super::api_webhooks::update,
            super::api_webhooks::delete
        ))
        .routes(utoipa_axum::routes!(super::api_webhooks::deliveries))
        .routes(utoipa_axum::routes!(super::api_webhooks::send_test))
        .routes(utoipa_axum::routes!(super::api_webhooks::redeliver))
        .routes(utoipa_axum::routes!(super::audit::list))
        .split_for_parts();
    let json: Arc<str> = doc
        .to_pretty_json()
        .expect("the OpenAPI document serialises")
        .into();
    router
        .route(
            "/openapi.json",
            get(move || {
                let json = json.clone();
                async move {
                    (
                        [(header::CONTENT_TYPE, "application/json")],
                        json.to_string(),
                    )
                }
            }),
        )
        .fallback(|| async { HttpError::NotFound })
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Mailkey host API",
        version = "1",
        description = "For a host application's backend: organisations, accounts and fresh \
                       access tokens for their Microsoft 365 mailboxes, and webhooks (Standard \
                       Webhooks signatures) about what happens to them. Every error answers \
                       `{\"error\": {\"code\", \"message\"}}`."
    ),
    servers((url = "/api/v1")),
    components(schemas(ErrorBody)),
    modifiers(&BearerKeys)
)]
struct ApiDoc;

/// API keys travel as `Authorization: Bearer mk_live_…`.
struct BearerKeys;

impl Modify for BearerKeys {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("mk_live_…")
                    .build(),
            ),
        );
    }
}

/// The longest validity a caller may ask for: Microsoft's tokens live 60 to 90 minutes, so more
/// would refresh on every call.
const MAX_MIN_VALIDITY: u32 = 3000;
const DEFAULT_MIN_VALIDITY: u32 = 300;

/// `POST /api/v1/accounts/{id}/access-token`: a fresh access token for the mailbox and how to
/// use it. From the cache while it stays valid for `min_validity`; callers at once share one
/// refresh. A mailbox that must sign in again is `409 needs_reconnect`; Microsoft unreachable,
/// throttling or refusing the app is `503` with `Retry-After`: the two are never confused.
#[utoipa::path(post, path = "/accounts/{id}/access-token", operation_id = "get_access_token", tag = "tokens",
    params(("id" = String, Path, description = "The account's ID")),
    request_body(content = AccessTokenRequest, description = "Optional; an empty body asks for the defaults"),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "A token and how to use it (Cache-Control: no-store)", body = AccessTokenAnswer),
        (status = 400, description = "A bad body", body = ErrorBody),
        (status = 401, description = "No valid API key", body = ErrorBody),
        (status = 403, description = "Without tokens.issue", body = ErrorBody),
        (status = 404, description = "No such account (or not the caller's)", body = ErrorBody),
        (status = 409, description = "needs_reconnect: the mailbox must sign in again", body = ErrorBody),
        (status = 503, description = "provider_unavailable, app_refused or refresh_in_progress (another instance is refreshing it): retry after Retry-After", body = ErrorBody),
    ))]
async fn access_token(
    State(views): State<TokenViews>,
    State(tokens): State<TokenKeeper>,
    State(audit): State<crate::audit::Audit>,
    peer: Option<axum::Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
    allowed: Allowed<IssueTokens>,
    Path(id): Path<String>,
    body: Body<AccessTokenRequest>,
) -> Result<Response, HttpError> {
    let began = std::time::Instant::now();
    let ask = body.0;
    let min_validity = ask.min_validity.unwrap_or(DEFAULT_MIN_VALIDITY);
    if min_validity > MAX_MIN_VALIDITY {
        return Err(HttpError::InvalidBody(format!(
            "min_validity is {min_validity} seconds; it can be at most {MAX_MIN_VALIDITY} (tokens \
             live about an hour)"
        )));
    }
    // From memory while nothing it depends on changed: no database look-up for a cached token.
    let revision = match &allowed.caller {
        Caller::Key(k) => k.revision,
        Caller::Operator => views.freshness().current().await?,
    };
    let view = views
        .get(&id, revision)
        .await?
        .filter(|v| {
            allowed
                .caller
                .organisation()
                .is_none_or(|own| own == v.organisation_id)
        })
        .ok_or(HttpError::AccountNotFound)?;
    let token = tokens
        .access_token_for(&id, i64::from(min_validity), ask.force_refresh)
        .await
        .map_err(token_error)?;
    let servers = view
        .servers
        .clone()
        .ok_or_else(|| HttpError::NeedsReconnect {
            reason: "the account's mailbox settings are not complete".into(),
        })?;
    tracing::info!(account = %id, caller = %allowed.caller.label(), expires_at = token.expires_at, "access token handed out");
    crate::metrics::token_handed_out(began.elapsed());
    // A secret handed out: counted for the audit trail, written in batches.
    audit.handed_out(
        &allowed.caller.actor(),
        &view.organisation_id,
        &id,
        peer.map(|axum::Extension(p)| p.0.ip()),
    );
    let answer = AccessTokenAnswer {
        access_token: secrecy::ExposeSecret::expose_secret(&token.token).to_string(),
        token_type: "Bearer".into(),
        expires_at: token.expires_at,
        scopes: view.scopes.clone(),
        xoauth2_user: view.mailbox.clone(),
        mailbox: view.mailbox.clone(),
        servers,
    };
    let mut res = Json(answer).into_response();
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    // A refresh changes only the account's tokens, which no instance keeps in memory unread.
    res.extensions_mut()
        .insert(super::settle::ChangedNothingKept);
    Ok(res)
}

fn token_error(e: TokenError) -> HttpError {
    let wait = |at: Option<i64>| {
        at.map(|at| at - crate::storage::now())
            .filter(|s| *s > 0)
            .map_or(30, |s| s as u64)
    };
    match e {
        TokenError::NotSignedIn => HttpError::NeedsReconnect {
            reason: "it has not signed in yet (or its address or app changed)".into(),
        },
        TokenError::NeedsSignIn(p) => HttpError::NeedsReconnect {
            reason: format!("{}: {}", p.title, p.what),
        },
        TokenError::AppRefused { problem, retry_at } => HttpError::ProviderUnavailable {
            code: "app_refused",
            reason: format!(
                "{} (the app's credentials; the operator fixes them, the mailbox keeps its \
                 sign-in)",
                problem.title
            ),
            retry_after_secs: wait(Some(retry_at)),
        },
        TokenError::Unavailable { why, retry_at } => HttpError::ProviderUnavailable {
            code: "provider_unavailable",
            reason: why.to_string(),
            retry_after_secs: wait(retry_at),
        },
        // Not Microsoft: another instance's refresh has not finished; asking again soon works.
        e @ TokenError::RefreshBusy => HttpError::ProviderUnavailable {
            code: "refresh_in_progress",
            reason: e.to_string(),
            retry_after_secs: 1,
        },
        TokenError::Account(crate::sign_in::SignInError::NotFound) => HttpError::AccountNotFound,
        TokenError::Account(crate::sign_in::SignInError::NotReady(_)) => {
            HttpError::NeedsReconnect {
                reason: "its setup is not finished".into(),
            }
        }
        TokenError::Account(e) => HttpError::Internal(e.to_string()),
    }
}

/// A JSON body in the API's terms: an empty body is `{}`, and a malformed one or an
/// unknown field is a `400 invalid_body` in the one error shape (axum's own rejection is plain
/// text).
pub struct Body<T>(pub T);

impl<T, S> axum::extract::FromRequest<S> for Body<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = HttpError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, HttpError> {
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| HttpError::InvalidBody(e.body_text()))?;
        // An empty body is an empty object: the defaults, or which fields are required.
        let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &bytes
        };
        serde_json::from_slice(bytes)
            .map(Body)
            .map_err(|e| HttpError::InvalidBody(format!("{e}; send a JSON object")))
    }
}
