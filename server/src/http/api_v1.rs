//! `/api/v1`: the versioned JSON API for host applications. Independent of the portal's server
//! functions, so the UI can change without breaking integrations.

use axum::{
    extract::{Path, State},
    http::header,
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use mailkey_app::api::{
    AccessTokenAnswer, AccessTokenRequest, AccountDetail, AccountList, MailServers,
};

use super::{
    caller::{Allowed, IssueTokens, ReadAccounts},
    error::HttpError,
};
use crate::{
    state::AppState,
    storage::Store,
    tokens::TokenError,
    wizard::{DraftError, Wizard},
};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/accounts", get(list_accounts))
        .route("/accounts/{id}", get(account))
        .route("/accounts/{id}/access-token", post(access_token))
        .route("/accounts/{id}/tests", get(super::tests_live::history))
        .route(
            "/accounts/{id}/folders",
            get(super::tests_live::folders).put(super::tests_live::save_folders),
        )
        .fallback(|| async { HttpError::NotFound })
}

async fn list_accounts(
    State(store): State<Store>,
    _allowed: Allowed<ReadAccounts>,
) -> Result<Json<AccountList>, HttpError> {
    Ok(Json(AccountList {
        accounts: store.list_accounts().await?,
    }))
}

/// One account's settings. The client secret appears only as `{"set": true, "expires": ...}`.
async fn account(
    State(wizard): State<Wizard>,
    _allowed: Allowed<ReadAccounts>,
    Path(id): Path<String>,
) -> Result<Json<AccountDetail>, HttpError> {
    let draft = wizard.load(&id).await.map_err(draft_error)?;
    Ok(Json(AccountDetail::from(draft)))
}

fn draft_error(e: DraftError) -> HttpError {
    match e {
        DraftError::NotFound => HttpError::AccountNotFound,
        DraftError::Storage(e) => e.into(),
        other => HttpError::Internal(other.to_string()),
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
async fn access_token(
    State(state): State<AppState>,
    allowed: Allowed<IssueTokens>,
    Path(id): Path<String>,
    body: Body<AccessTokenRequest>,
) -> Result<Response, HttpError> {
    let ask = body.0;
    let min_validity = ask.min_validity.unwrap_or(DEFAULT_MIN_VALIDITY);
    if min_validity > MAX_MIN_VALIDITY {
        return Err(HttpError::InvalidBody(format!(
            "min_validity is {min_validity} seconds; it can be at most {MAX_MIN_VALIDITY} (tokens \
             live about an hour)"
        )));
    }
    let draft = state.wizard.load(&id).await.map_err(draft_error)?;
    let token = state
        .tokens
        .access_token_for(&id, i64::from(min_validity), ask.force_refresh)
        .await
        .map_err(token_error)?;
    let servers = MailServers::of(&draft.mailbox).ok_or_else(|| HttpError::NeedsReconnect {
        reason: "the account's mailbox settings are not complete".into(),
    })?;
    tracing::info!(account = %id, caller = %allowed.caller.label(), expires_at = token.expires_at, "access token handed out");
    let mailbox = draft.mailbox.email.trim().to_string();
    let answer = AccessTokenAnswer {
        access_token: secrecy::ExposeSecret::expose_secret(&token.token).to_string(),
        token_type: "Bearer".into(),
        expires_at: token.expires_at,
        scopes: draft
            .mailbox
            .scopes
            .split_whitespace()
            .filter(|s| s.contains('/'))
            .map(str::to_string)
            .collect(),
        xoauth2_user: mailbox.clone(),
        mailbox,
        servers,
    };
    let mut res = Json(answer).into_response();
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
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
        TokenError::Account(crate::sign_in::SignInError::NotFound) => HttpError::AccountNotFound,
        TokenError::Account(crate::sign_in::SignInError::NotReady(_)) => {
            HttpError::NeedsReconnect {
                reason: "its setup is not finished".into(),
            }
        }
        TokenError::Account(e) => HttpError::Internal(e.to_string()),
    }
}

/// A JSON body in the API's terms: an empty body is the defaults, and a malformed one or an
/// unknown field is a `400 invalid_body` in the one error shape (axum's own rejection is plain
/// text).
pub struct Body<T>(pub T);

impl<T, S> axum::extract::FromRequest<S> for Body<T>
where
    T: serde::de::DeserializeOwned + Default,
    S: Send + Sync,
{
    type Rejection = HttpError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, HttpError> {
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| HttpError::InvalidBody(e.body_text()))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Body(T::default()));
        }
        serde_json::from_slice(&bytes)
            .map(Body)
            .map_err(|e| HttpError::InvalidBody(format!("{e}; send a JSON object")))
    }
}
