//! `/api/v1/accounts`: the host's accounts, created in an organisation, listed page by page,
//! read and deleted. A key restricted to one organisation sees only its accounts: another's is
//! "not found", so not even its ID is confirmed.

use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use mailkey_app::{
    api::{
        AccountDetail, AccountList, AccountState, AppChoice, CreatedAccount, DeletedAnswer,
        ErrorBody, NewAccountRequest,
    },
    draft::AppSource,
    provider::MICROSOFT_365,
};

use super::{
    api_v1::Body,
    caller::{Allowed, Caller, ReadAccounts, WriteAccounts},
    error::HttpError,
};
use crate::{
    state::AppState,
    storage::{AccountFilter, Cursor, Store},
    wizard::{DraftError, NewAccount},
};

const DEFAULT_PAGE: u32 = 50;
const MAX_PAGE: u32 = 200;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    organisation: Option<String>,
    state: Option<String>,
    external_id: Option<String>,
    limit: Option<u32>,
    after: Option<String>,
}

/// `GET /api/v1/accounts`: in creation order, a page at a time.
#[utoipa::path(get, path = "/accounts", operation_id = "list_accounts", tag = "accounts",
    params(
        ("organisation" = Option<String>, Query, description = "Only this organisation's (its ID)"),
        ("state" = Option<String>, Query, description = "draft, ready_to_sign_in, connected or needs_attention"),
        ("external_id" = Option<String>, Query, description = "The host's own ID of the account"),
        ("limit" = Option<u32>, Query, description = "At most this many (1 to 200; default 50)"),
        ("after" = Option<String>, Query, description = "The `next` of the previous page"),
    ),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The accounts the caller may see", body = AccountList),
        (status = 400, description = "A bad query", body = ErrorBody),
        (status = 401, description = "No valid API key", body = ErrorBody),
        (status = 403, description = "Without accounts.read", body = ErrorBody),
    ))]
pub async fn list(
    State(store): State<Store>,
    allowed: Allowed<ReadAccounts>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<AccountList>, HttpError> {
    let Query(q) = query.map_err(|e| HttpError::InvalidQuery(e.body_text()))?;
    let state = match q.state.as_deref() {
        None => None,
        Some(s) => Some(AccountState::parse(s).ok_or_else(|| {
            HttpError::InvalidQuery(format!(
                "state \"{s}\" is not one of {}",
                AccountState::ALL.map(AccountState::as_str).join(", ")
            ))
        })?),
    };
    let limit = q.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(HttpError::InvalidQuery(format!(
            "limit is {limit}; ask for 1 to {MAX_PAGE}"
        )));
    }
    let after = match q.after.as_deref() {
        None => None,
        Some(a) => Some(Cursor::decode(a).ok_or_else(|| {
            HttpError::InvalidQuery(
                "after is not a cursor Mailkey gave; pass the `next` of the previous page as it is"
                    .into(),
            )
        })?),
    };
    let organisation = match (allowed.caller.organisation(), q.organisation.as_deref()) {
        (Some(own), Some(asked)) if own != asked => {
            return Ok(Json(AccountList {
                accounts: Vec::new(),
                next: None,
            }))
        }
        (Some(own), _) => Some(own),
        (None, asked) => asked,
    };
    // One more than asked tells whether another page follows.
    let mut accounts = store
        .accounts_where(&AccountFilter {
            id: None,
            organisation,
            state,
            external_id: q.external_id.as_deref(),
            after,
            limit: Some(limit + 1),
        })
        .await?;
    let next = (accounts.len() > limit as usize).then(|| {
        accounts.truncate(limit as usize);
        let last = accounts.last().expect("a full page");
        Cursor {
            created_at: last.created_at,
            id: last.id.clone(),
        }
        .encode()
    });
    Ok(Json(AccountList { accounts, next }))
}

/// The organisation a new account goes into: the caller's own when it is restricted to one;
/// otherwise the one named, by Mailkey's ID or by the host's.
async fn organisation_of(
    store: &Store,
    caller: &Caller,
    r: &NewAccountRequest,
) -> Result<String, HttpError> {
    named_organisation(
        store,
        caller,
        r.organisation_id.as_deref(),
        r.organisation_external_id.as_deref(),
    )
    .await?
    .ok_or_else(|| {
        HttpError::InvalidBody(
            "say which organisation the account belongs to: organisation_id (Mailkey's) or \
             organisation_external_id (yours)"
                .into(),
        )
    })
}

/// The organisation a request names, by Mailkey's ID or by the host's, which the caller must be
/// allowed to see; without either, the caller's own when it is restricted to one, else `None`.
pub(super) async fn named_organisation(
    store: &Store,
    caller: &Caller,
    id: Option<&str>,
    external_id: Option<&str>,
) -> Result<Option<String>, HttpError> {
    let named = match (id, external_id) {
        (Some(_), Some(_)) => {
            return Err(HttpError::InvalidBody(
                "name the organisation once: organisation_id or organisation_external_id, not \
                 both"
                    .into(),
            ))
        }
        (Some(id), None) => Some(
            store
                .organisation(id.trim(), caller.organisation())
                .await?
                .ok_or(HttpError::OrganisationNotFound)?
                .id,
        ),
        (None, Some(ext)) => Some(
            store
                .organisation_by_external_id(ext.trim())
                .await?
                .filter(|o| caller.organisation().is_none_or(|own| own == o.id))
                .ok_or(HttpError::OrganisationNotFound)?
                .id,
        ),
        (None, None) => None,
    };
    Ok(named.or_else(|| caller.organisation().map(str::to_string)))
}

/// An account's own values, as the API and connect sessions give them.
pub struct NewAccountFields {
    pub external_id: Option<String>,
    pub provider: Option<String>,
    pub app: AppChoice,
    pub name: Option<String>,
    pub email: Option<String>,
}

/// Creates an account in `organisation_id` (or finds the one with its external ID).
pub async fn make_account(
    state: &AppState,
    caller: &Caller,
    organisation_id: String,
    r: NewAccountFields,
) -> Result<crate::wizard::Created, HttpError> {
    let external_id = match r.external_id.as_deref().map(str::trim) {
        None => None,
        Some(e) if e.is_empty() || e.chars().count() > 200 || e.chars().any(char::is_control) => {
            return Err(HttpError::InvalidFields(
                [(
                    "external_id".to_string(),
                    "The external ID must be 1 to 200 characters on one line.".to_string(),
                )]
                .into(),
            ))
        }
        Some(e) => Some(e.to_string()),
    };
    let asked_email = r
        .email
        .as_deref()
        .map(str::trim)
        .unwrap_or_default()
        .to_string();
    let created = state
        .wizard
        .create(NewAccount {
            provider: r
                .provider
                .unwrap_or_else(|| MICROSOFT_365.id.to_string())
                .trim()
                .to_string(),
            app_source: match r.app {
                AppChoice::Operator => AppSource::Operator,
                AppChoice::Own => AppSource::Own,
            },
            organisation_id: organisation_id.clone(),
            external_id,
            name: r.name.unwrap_or_default(),
            email: r.email.unwrap_or_default(),
        })
        .await
        .map_err(draft_error)?;
    if created.created {
        tracing::info!(account = %created.id, organisation = %organisation_id, caller = %caller.label(), "account created");
    } else if !asked_email.is_empty() {
        // The same external ID for another mailbox would silently hand back (and connect) the
        // old one: said instead.
        let existing = state
            .store
            .account_summary(&created.id)
            .await?
            .ok_or(HttpError::AccountNotFound)?;
        if !existing.email.is_empty() && !existing.email.eq_ignore_ascii_case(&asked_email) {
            return Err(HttpError::ExternalIdTaken {
                external_id: existing.external_id.unwrap_or_default(),
                account_id: existing.id,
                email: existing.email,
            });
        }
    }
    Ok(created)
}

/// `POST /api/v1/accounts`: everything is checked before anything is written.
#[utoipa::path(post, path = "/accounts", operation_id = "create_account", tag = "accounts",
    request_body = NewAccountRequest, security(("api_key" = [])),
    responses(
        (status = 201, description = "Created; its setup continues at setup_url", body = CreatedAccount),
        (status = 200, description = "An account with this external_id exists in the organisation: it is answered", body = CreatedAccount),
        (status = 400, description = "A bad body, or refused values (invalid_fields, each field with its reason)", body = ErrorBody),
        (status = 401, description = "No valid API key", body = ErrorBody),
        (status = 403, description = "Without accounts.write", body = ErrorBody),
        (status = 404, description = "No such organisation (or not the caller's)", body = ErrorBody),
        (status = 409, description = "external_id_taken: the organisation's account with this external_id connects another mailbox", body = ErrorBody),
    ))]
pub async fn create(
    State(state): State<AppState>,
    allowed: Allowed<WriteAccounts>,
    body: Body<NewAccountRequest>,
) -> Result<Response, HttpError> {
    let r = body.0;
    let organisation_id = organisation_of(&state.store, &allowed.caller, &r).await?;
    let created = make_account(
        &state,
        &allowed.caller,
        organisation_id,
        NewAccountFields {
            external_id: r.external_id,
            provider: r.provider,
            app: r.app,
            name: r.name,
            email: r.email,
        },
    )
    .await?;
    let account = state
        .store
        .account_summary(&created.id)
        .await?
        .ok_or(HttpError::AccountNotFound)?;
    let answer = CreatedAccount {
        setup_url: state
            .wizard
            .portal_url(&format!("/accounts/{}/setup", account.id)),
        account,
        created: created.created,
        warnings: created.warnings.0.into_iter().map(|n| n.message).collect(),
    };
    let status = if created.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(answer)).into_response())
}

/// The account, if the caller may see it: another organisation's is not found (its ID is not
/// even confirmed).
pub async fn visible(store: &Store, caller: &Caller, id: &str) -> Result<(), HttpError> {
    if store.account_visible(id, caller.organisation()).await? {
        Ok(())
    } else {
        Err(HttpError::AccountNotFound)
    }
}

/// One account's settings. The client secret appears only as `{"set": true, "expires": ...}`.
#[utoipa::path(get, path = "/accounts/{id}", operation_id = "get_account", tag = "accounts",
    params(("id" = String, Path, description = "The account's ID")),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "Its settings and state; never a secret", body = AccountDetail),
        (status = 401, description = "No valid API key", body = ErrorBody),
        (status = 404, description = "No such account (or not the caller's)", body = ErrorBody),
    ))]
pub async fn get(
    State(state): State<AppState>,
    allowed: Allowed<ReadAccounts>,
    Path(id): Path<String>,
) -> Result<Json<AccountDetail>, HttpError> {
    visible(&state.store, &allowed.caller, &id).await?;
    let draft = state.wizard.load(&id).await.map_err(draft_error)?;
    Ok(Json(AccountDetail::from(draft)))
}

/// `DELETE /api/v1/accounts/{id}`: forgets the account, its refresh token and sealed secret,
/// its sign-ins and history. Final.
#[utoipa::path(delete, path = "/accounts/{id}", operation_id = "delete_account", tag = "accounts",
    params(("id" = String, Path, description = "The account's ID")),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "Deleted for good", body = DeletedAnswer),
        (status = 401, description = "No valid API key", body = ErrorBody),
        (status = 403, description = "Without accounts.write", body = ErrorBody),
        (status = 404, description = "No such account (or not the caller's)", body = ErrorBody),
    ))]
pub async fn delete(
    State(state): State<AppState>,
    allowed: Allowed<WriteAccounts>,
    Path(id): Path<String>,
) -> Result<Json<DeletedAnswer>, HttpError> {
    visible(&state.store, &allowed.caller, &id).await?;
    let flight = state.tokens.flight(&id);
    let _turn = flight.lock().await;
    if !state.store.delete_account(&id).await? {
        return Err(HttpError::AccountNotFound);
    }
    state.tokens.forget(&id);
    tracing::info!(account = %id, caller = %allowed.caller.label(), "account deleted");
    Ok(Json(DeletedAnswer {
        deleted: true,
        accounts_deleted: 1,
        note: "Deleted for good: the mailbox's sign-in, the app's client secret and the test \
               history are gone, and no token can be had for it. This cannot be undone."
            .into(),
    }))
}

pub fn draft_error(e: DraftError) -> HttpError {
    match e {
        DraftError::NotFound => HttpError::AccountNotFound,
        DraftError::NoOrganisation => HttpError::OrganisationNotFound,
        DraftError::Invalid(f) => HttpError::from(&f),
        DraftError::Storage(e) => e.into(),
        other => HttpError::Internal(other.to_string()),
    }
}
