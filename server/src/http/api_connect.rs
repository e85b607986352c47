//! `/api/v1/connect-sessions` and `/api/v1/organisations/{id}/allowed-origins`: the host's
//! backend starts the wizard for one of its customers, to embed in its page or send as a link.

use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use mailkey_app::{
    api::{AppChoice, ErrorBody},
    connect::{AllowedOrigins, ConnectSession, NewConnectSession},
};
use serde::Serialize;
use utoipa::ToSchema;

use super::{
    api_accounts::{make_account, named_organisation, NewAccountFields},
    api_v1::Body,
    caller::{Allowed, Caller, ReadAccounts, WriteAccounts},
    error::HttpError,
};
use crate::{
    connect::{ConnectError, ConnectSessions, Mint},
    state::AppState,
    storage::{SessionMode, Store},
};

impl From<ConnectError> for HttpError {
    fn from(e: ConnectError) -> HttpError {
        match e {
            ConnectError::Invalid(f) => HttpError::InvalidFields(f),
            ConnectError::Storage(e) => HttpError::Storage(e),
        }
    }
}

async fn own_organisation(store: &Store, caller: &Caller, id: &str) -> Result<String, HttpError> {
    Ok(store
        .organisation(id, caller.organisation())
        .await?
        .ok_or(HttpError::OrganisationNotFound)?
        .id)
}

#[utoipa::path(get, path = "/organisations/{id}/allowed-origins", operation_id = "get_allowed_origins", tag = "connect sessions",
    params(("id" = String, Path, description = "The organisation's ID (org_…)")),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The origins its pages may frame Mailkey from", body = AllowedOrigins),
        (status = 401, description = "No valid API key", body = ErrorBody),
        (status = 404, description = "No such organisation (or not the caller's)", body = ErrorBody),
    ))]
pub async fn get_origins(
    State(store): State<Store>,
    allowed: Allowed<ReadAccounts>,
    Path(id): Path<String>,
) -> Result<Json<AllowedOrigins>, HttpError> {
    let org = own_organisation(&store, &allowed.caller, &id).await?;
    Ok(Json(AllowedOrigins {
        origins: store.organisation_origins(&org).await?,
    }))
}

#[utoipa::path(put, path = "/organisations/{id}/allowed-origins", operation_id = "set_allowed_origins", tag = "connect sessions",
    params(("id" = String, Path, description = "The organisation's ID (org_…)")),
    request_body = AllowedOrigins, security(("api_key" = [])),
    responses(
        (status = 200, description = "Replaced; the answer holds them normalised", body = AllowedOrigins),
        (status = 400, description = "A bad body, or refused origins (invalid_fields)", body = ErrorBody),
        (status = 401, description = "No valid API key", body = ErrorBody),
        (status = 404, description = "No such organisation (or not the caller's)", body = ErrorBody),
    ))]
pub async fn set_origins(
    State(store): State<Store>,
    State(connect): State<ConnectSessions>,
    allowed: Allowed<WriteAccounts>,
    Path(id): Path<String>,
    body: Body<AllowedOrigins>,
) -> Result<Json<AllowedOrigins>, HttpError> {
    let org = own_organisation(&store, &allowed.caller, &id).await?;
    let origins = connect.set_origins(&org, &body.0.origins).await?;
    tracing::info!(organisation = %org, origins = ?origins, caller = %allowed.caller.label(), "allowed origins set");
    Ok(Json(AllowedOrigins { origins }))
}

/// `POST /api/v1/connect-sessions`: everything is checked before anything is written (a new
/// account too: an invalid session makes none).
#[utoipa::path(post, path = "/connect-sessions", operation_id = "create_connect_session", tag = "connect sessions",
    request_body = NewConnectSession, security(("api_key" = [])),
    responses(
        (status = 201, description = "Made; launch_token and url work once, until expires_at", body = ConnectSession),
        (status = 400, description = "A bad body, or refused values (invalid_fields)", body = ErrorBody),
        (status = 401, description = "No valid API key", body = ErrorBody),
        (status = 403, description = "Without accounts.write", body = ErrorBody),
        (status = 404, description = "No such organisation or account (or not the caller's)", body = ErrorBody),
        (status = 409, description = "external_id_taken: the organisation's account with this external_id connects another mailbox", body = ErrorBody),
    ))]
pub async fn create(
    State(state): State<AppState>,
    allowed: Allowed<WriteAccounts>,
    body: Body<NewConnectSession>,
) -> Result<Response, HttpError> {
    let r = body.0;
    let store = &state.store;
    let caller = &allowed.caller;
    let organisation = named_organisation(
        store,
        caller,
        r.organisation_id.as_deref(),
        r.organisation_external_id.as_deref(),
    )
    .await?
    .ok_or_else(|| {
        HttpError::InvalidBody(
            "say which organisation: organisation_id (Mailkey's) or organisation_external_id \
             (yours)"
                .into(),
        )
    })?;
    // The session's own values first, so a refused session makes no account.
    state
        .connect_sessions
        .check(
            &organisation,
            &r.allowed_origins,
            r.return_url.as_deref(),
            r.lifetime_secs,
            r.host_name.as_deref().unwrap_or_default(),
        )
        .await?;
    let (account_id, mode) = match (&r.account, &r.reconnect_account_id) {
        (Some(_), Some(_)) | (None, None) => {
            return Err(HttpError::InvalidBody(
                "give either account (a new account, or the one with its external_id) or \
                 reconnect_account_id (an existing account signs in again), not both"
                    .into(),
            ))
        }
        (None, Some(id)) => {
            let found = store
                .account_summary(id.trim())
                .await?
                .filter(|a| a.organisation_id == organisation)
                .ok_or(HttpError::AccountNotFound)?;
            (found.id, SessionMode::Reconnect)
        }
        (Some(a), None) => {
            let created = make_account(
                &state,
                caller,
                organisation.clone(),
                NewAccountFields {
                    external_id: Some(a.external_id.clone()),
                    provider: a.provider.clone(),
                    app: a.app.unwrap_or(AppChoice::Operator),
                    name: a.name.clone(),
                    email: a.email.clone(),
                },
            )
            .await?;
            (created.id, SessionMode::Setup)
        }
    };
    let minted = state
        .connect_sessions
        .mint(Mint {
            organisation_id: &organisation,
            account_id: &account_id,
            mode,
            origins: &r.allowed_origins,
            return_url: r.return_url.as_deref(),
            lifetime_secs: r.lifetime_secs,
            host_name: r.host_name.as_deref().unwrap_or_default(),
            api_key_id: match caller {
                Caller::Key(k) => Some(k.id.as_str()),
                Caller::Operator => None,
            },
        })
        .await?;
    tracing::info!(session = %minted.session.id, account = %account_id, mode = mode.as_str(), caller = %caller.label(), "connect session made");
    let s = minted.session;
    let answer = ConnectSession {
        id: s.id,
        account_id: s.account_id,
        organisation_id: s.organisation_id,
        mode: s.mode.as_str().into(),
        allowed_origins: s.origins,
        expires_at: s.expires_at,
        launch_token: minted.launch_token.expose().to_string(),
        url: minted.url,
    };
    // The launch token is not cached: every answer is `no-store` (security_headers).
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

#[derive(Serialize, ToSchema)]
pub struct Revoked {
    revoked: bool,
}

#[utoipa::path(delete, path = "/connect-sessions/{id}", operation_id = "revoke_connect_session", tag = "connect sessions",
    params(("id" = String, Path, description = "The session's ID (cs_…)")),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "Revoked: its link and its page stop working", body = Revoked),
        (status = 401, description = "No valid API key", body = ErrorBody),
        (status = 404, description = "No such session (or not the caller's)", body = ErrorBody),
    ))]
pub async fn revoke(
    State(store): State<Store>,
    allowed: Allowed<WriteAccounts>,
    Path(id): Path<String>,
) -> Result<Json<Revoked>, HttpError> {
    store
        .connect_session(&id, allowed.caller.organisation())
        .await?
        .ok_or(HttpError::NotFound)?;
    store.revoke_connect_session(&id).await?;
    tracing::info!(session = %id, caller = %allowed.caller.label(), "connect session revoked");
    Ok(Json(Revoked { revoked: true }))
}
