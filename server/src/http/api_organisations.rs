//! `/api/v1/organisations`: the host's customers. Created idempotently on the host's own
//! `external_id`; a key restricted to one organisation sees only that one, and cannot create
//! others.

use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use mailkey_app::api::{
    DeletedAnswer, ErrorBody, NewOrganisation, Organisation, OrganisationChange, OrganisationList,
};
use serde::Deserialize;

use super::{
    api_v1::Body,
    caller::{Allowed, ReadAccounts, WriteAccounts},
    error::HttpError,
};
use crate::storage::{Deleted, OrganisationRecord, Store};

fn view(r: OrganisationRecord) -> Organisation {
    Organisation {
        id: r.id,
        external_id: r.external_id,
        name: r.name,
        notice_email: r.notice_email,
        accounts: r.accounts,
        created_at: r.created_at,
        updated_at: r.updated_at,
    }
}

/// A name or an external ID: one line, 1 to 200 characters.
fn check_text(field: &str, value: &str) -> Result<String, HttpError> {
    let v = value.trim();
    if v.is_empty() || v.chars().count() > 200 || v.chars().any(char::is_control) {
        return Err(HttpError::InvalidBody(format!(
            "{field} must be 1 to 200 characters on one line"
        )));
    }
    Ok(v.to_string())
}

#[utoipa::path(post, path = "/organisations", operation_id = "create_organisation", tag = "organisations",
    request_body = NewOrganisation, security(("api_key" = [])),
    responses(
        (status = 201, description = "Created", body = Organisation),
        (status = 200, description = "An organisation with this external_id exists: it is answered", body = Organisation),
        (status = 400, description = "A bad body", body = ErrorBody),
        (status = 401, description = "No valid API key", body = ErrorBody),
        (status = 403, description = "Without accounts.write, or a key restricted to one organisation", body = ErrorBody),
    ))]
pub async fn create(
    State(store): State<Store>,
    allowed: Allowed<WriteAccounts>,
    body: Body<NewOrganisation>,
) -> Result<Response, HttpError> {
    if allowed.caller.organisation().is_some() {
        return Err(HttpError::RestrictedKey);
    }
    let external_id = check_text("external_id", &body.0.external_id)?;
    let name = check_text("name", &body.0.name)?;
    let id = crate::storage::new_organisation_id();
    let (record, created) = store.create_organisation(&id, &external_id, &name).await?;
    if created {
        tracing::info!(organisation = %record.id, caller = %allowed.caller.label(), "organisation created");
    }
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(view(record))).into_response())
}

#[utoipa::path(get, path = "/organisations", operation_id = "list_organisations", tag = "organisations",
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The organisations the caller may see", body = OrganisationList),
        (status = 401, description = "No valid API key", body = ErrorBody),
        (status = 403, description = "Without accounts.read", body = ErrorBody),
    ))]
pub async fn list(
    State(store): State<Store>,
    allowed: Allowed<ReadAccounts>,
) -> Result<Json<OrganisationList>, HttpError> {
    let organisations = store
        .organisations(allowed.caller.organisation())
        .await?
        .into_iter()
        .map(view)
        .collect();
    Ok(Json(OrganisationList { organisations }))
}

#[utoipa::path(get, path = "/organisations/{id}", operation_id = "get_organisation", tag = "organisations",
    params(("id" = String, Path, description = "The organisation's ID (org_…)")),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The organisation", body = Organisation),
        (status = 401, description = "No valid API key", body = ErrorBody),
        (status = 404, description = "No such organisation (or not the caller's)", body = ErrorBody),
    ))]
pub async fn get(
    State(store): State<Store>,
    allowed: Allowed<ReadAccounts>,
    Path(id): Path<String>,
) -> Result<Json<Organisation>, HttpError> {
    store
        .organisation(&id, allowed.caller.organisation())
        .await?
        .map(|r| Json(view(r)))
        .ok_or(HttpError::OrganisationNotFound)
}

/// A notice address as the host sent it: `None` clears it.
fn check_notice_email(value: Option<&str>) -> Result<Option<String>, HttpError> {
    let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    match mailkey_app::rules::mailbox::check_email(v, "notice_email address", true) {
        Some(note) if note.level == mailkey_app::rules::Level::Error => Err(
            HttpError::InvalidBody(format!("notice_email: {}", note.message)),
        ),
        _ => Ok(Some(v.to_string())),
    }
}

#[utoipa::path(patch, path = "/organisations/{id}", operation_id = "update_organisation", tag = "organisations",
    params(("id" = String, Path, description = "The organisation's ID (org_…)")),
    request_body = OrganisationChange, security(("api_key" = [])),
    responses(
        (status = 200, description = "Changed", body = Organisation),
        (status = 400, description = "A bad body: nothing to change, a bad name or notice address", body = ErrorBody),
        (status = 401, description = "No valid API key", body = ErrorBody),
        (status = 404, description = "No such organisation (or not the caller's)", body = ErrorBody),
    ))]
pub async fn update(
    State(store): State<Store>,
    allowed: Allowed<WriteAccounts>,
    Path(id): Path<String>,
    body: Body<OrganisationChange>,
) -> Result<Json<Organisation>, HttpError> {
    let change = body.0;
    if change.name.is_none() && change.notice_email.is_none() {
        return Err(HttpError::InvalidBody(
            "nothing to change: send name, notice_email or both".into(),
        ));
    }
    // Every value is checked before anything is written.
    let name = change
        .name
        .as_deref()
        .map(|n| check_text("name", n))
        .transpose()?;
    let notice = change
        .notice_email
        .as_ref()
        .map(|a| check_notice_email(a.as_deref()))
        .transpose()?;
    if store
        .organisation(&id, allowed.caller.organisation())
        .await?
        .is_none()
    {
        return Err(HttpError::OrganisationNotFound);
    }
    let mut found = true;
    if let Some(name) = &name {
        found &= store.rename_organisation(&id, name).await?;
    }
    if let Some(address) = &notice {
        found &= store
            .set_organisation_notice_email(&id, address.as_deref())
            .await?;
    }
    if !found {
        return Err(HttpError::OrganisationNotFound);
    }
    get(State(store), allowed_read(allowed), Path(id)).await
}

/// A write caller may read what it writes.
fn allowed_read(a: Allowed<WriteAccounts>) -> Allowed<ReadAccounts> {
    Allowed::of(a.caller)
}

#[derive(Deserialize)]
pub struct DeleteQuery {
    #[serde(default)]
    delete_accounts: bool,
}

#[utoipa::path(delete, path = "/organisations/{id}", operation_id = "delete_organisation", tag = "organisations",
    params(
        ("id" = String, Path, description = "The organisation's ID (org_…)"),
        ("delete_accounts" = Option<bool>, Query, description = "Delete its accounts too (final)"),
    ),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "Deleted for good", body = DeletedAnswer),
        (status = 401, description = "No valid API key", body = ErrorBody),
        (status = 404, description = "No such organisation (or not the caller's)", body = ErrorBody),
        (status = 409, description = "It has accounts and delete_accounts was not asked", body = ErrorBody),
    ))]
pub async fn delete(
    State(store): State<Store>,
    allowed: Allowed<WriteAccounts>,
    Path(id): Path<String>,
    Query(q): Query<DeleteQuery>,
) -> Result<Json<DeletedAnswer>, HttpError> {
    if store
        .organisation(&id, allowed.caller.organisation())
        .await?
        .is_none()
    {
        return Err(HttpError::OrganisationNotFound);
    }
    match store.delete_organisation(&id, q.delete_accounts).await? {
        Deleted::NotFound => Err(HttpError::OrganisationNotFound),
        Deleted::HasAccounts(n) => Err(HttpError::OrganisationNotEmpty(n)),
        Deleted::Gone { accounts } => {
            tracing::info!(organisation = %id, accounts, caller = %allowed.caller.label(), "organisation deleted");
            Ok(Json(DeletedAnswer {
                deleted: true,
                accounts_deleted: accounts,
                note: "Deleted for good: the organisation, its accounts' sign-ins, secrets and \
                       history, and the keys restricted to it. This cannot be undone."
                    .into(),
            }))
        }
    }
}
