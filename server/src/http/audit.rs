//! The audit trail over HTTP: every change answered is recorded (by [`record_changes`], around
//! every route that knows its caller), and `GET /api/v1/audit-events` lists the trail.
//!
//! Who called is said by the extractor that found them ([`Caller`](super::caller::Caller), the
//! embedded wizard's session) through the request's [`AuditSlot`], or by the operator's
//! session; what was done is the route, with the names of the fields sent (never their values).

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use axum::{
    body::Body,
    extract::{ConnectInfo, MatchedPath, Query, RawPathParams, Request, State},
    http::{header, request::Parts},
    middleware::Next,
    response::{IntoResponse, Response},
    Json,
};
use mailkey_app::api::ErrorBody;
use serde::{Deserialize, Serialize};

use super::{
    caller::{Allowed, ReadAccounts},
    error::HttpError,
};
use crate::{
    audit::{Actor, Change},
    auth::OperatorSession,
    state::AppState,
    storage::{AuditFilter, AuditRecord},
    sync::lock,
};

/// The largest body a change may send: past it, the request is refused before its handler.
pub const MAX_BODY: usize = 2 * 1024 * 1024;

/// Where the extractor that found the caller writes who they are.
#[derive(Clone, Default)]
pub struct AuditSlot(Arc<Mutex<Option<Actor>>>);

impl AuditSlot {
    /// Says who is calling, for the request's audit line.
    pub fn note(parts: &Parts, actor: Actor) {
        if let Some(slot) = parts.extensions.get::<AuditSlot>() {
            *lock(&slot.0) = Some(actor);
        }
    }
}

/// The portal's server functions that only read: Leptos posts every server function, so these
/// are named to be left out of the trail. One missing here is recorded as a change: noise, never
/// a gap.
const SERVER_FN_READS: &[&str] = &[
    "/_fn/operator",
    "/_fn/accounts",
    "/_fn/accounts/draft",
    "/_fn/accounts/new",
    "/_fn/accounts/connection",
    "/_fn/accounts/connection-test",
    "/_fn/api-keys",
    "/_fn/audit",
    "/_fn/webhooks",
    "/_fn/tenant",
    "/_fn/settings/operator-apps",
    "/_fn/settings/notices",
    "/_fn/embed/preview",
];

/// Records every change answered: a request that may write (not GET, HEAD or OPTIONS) and
/// was not refused. Its body is read first (at most [`MAX_BODY`]) for the names of its fields.
pub async fn record_changes(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let counted_elsewhere = request.method() == axum::http::Method::POST
        && request.extensions().get::<MatchedPath>().is_some_and(|p| {
            crate::audit::HAND_OUT_ACTION.strip_prefix("POST ") == Some(p.as_str())
        });
    // Reads, and the token endpoint (its hand-outs are counted, not written one by one: its
    // path stays free of database writes and reads).
    if request.method().is_safe()
        || SERVER_FN_READS.contains(&request.uri().path())
        || counted_elsewhere
    {
        return next.run(request).await;
    }
    let (mut parts, body) = request.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => {
            return HttpError::InvalidBody(format!(
                "it is larger than {} MiB, or was cut off",
                MAX_BODY / (1024 * 1024)
            ))
            .into_response()
        }
    };
    let mut change = describe(&mut parts, &bytes).await;
    let operator = parts.extensions.get::<OperatorSession>().is_some();
    let slot = AuditSlot::default();
    parts.extensions.insert(slot.clone());
    // The account's organisation, read before the change (a deleted account has none after).
    if change.organisation_id.is_none() {
        if let Some(account) = &change.account_id {
            if let Ok(Some(a)) = state.store.account_summary(account).await {
                change.organisation_id = Some(a.organisation_id);
            }
        }
    }
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    let status = response.status();
    let refused = status.is_client_error() || status.is_server_error();
    if refused {
        return response;
    }
    // A new account's ID (and organisation) are in the answer: the API's JSON, the portal's
    // (its script's JSON, or the page a plain form is led to).
    let creates = ["POST /api/v1/accounts", "POST /_fn/accounts/create"];
    let response = if change.account_id.is_none() && creates.contains(&change.action.as_str()) {
        let led_to = response
            .headers()
            .get(header::LOCATION)
            .and_then(|l| l.to_str().ok())
            .and_then(|l| l.strip_prefix("/accounts/"))
            .and_then(|rest| rest.split(['/', '?', '#']).next())
            .filter(|id| !id.is_empty())
            .map(str::to_string);
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, MAX_BODY)
            .await
            .unwrap_or_default();
        if let Ok(answer) = serde_json::from_slice::<serde_json::Value>(&bytes) {
            let created = answer.get("account").unwrap_or(&answer);
            let text = |k: &str| created.get(k).and_then(|v| v.as_str()).map(str::to_string);
            change.account_id = text("id");
            change.organisation_id = text("organisation_id").or(change.organisation_id);
        }
        change.account_id = change.account_id.or(led_to);
        if let (Some(account), None) = (&change.account_id, &change.organisation_id) {
            if let Ok(Some(a)) = state.store.account_summary(account).await {
                change.organisation_id = Some(a.organisation_id);
            }
        }
        Response::from_parts(parts, Body::from(bytes))
    } else {
        response
    };
    let actor = lock(&slot.0).clone().unwrap_or_else(|| {
        if operator {
            Actor::operator()
        } else {
            Actor::anonymous()
        }
    });
    state.audit.record(&actor, change).await;
    response
}

/// What a request changes, from its route, path and body: never a value but IDs.
async fn describe(parts: &mut Parts, body: &[u8]) -> Change {
    let route = parts
        .extensions
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        // A route that matches any name (the portal's server functions) is named by its path.
        .filter(|p| !p.contains("{*"))
        .unwrap_or_else(|| super::loggable_path(parts.uri.path()).into_owned());
    let params =
        <RawPathParams as axum::extract::FromRequestParts<()>>::from_request_parts(parts, &())
            .await
            .ok();
    let param = |name: &str| {
        params
            .as_ref()?
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    };
    let fields = field_names(parts, body);
    let mut change = Change {
        action: format!("{} {route}", parts.method),
        address: parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip()),
        ..Change::default()
    };
    if route.starts_with("/api/v1/accounts/{id}") || route.starts_with("/accounts/{id}") {
        change.account_id = param("id");
    } else if route.starts_with("/api/v1/organisations/{id}") {
        change.organisation_id = param("id");
    } else if route.starts_with("/_fn/accounts") {
        change.account_id = body_id(parts, body);
    }
    change.fields = fields.into_iter().filter(|f| f != "id").collect();
    change
}

/// The names of the fields a JSON or form body sends (a JSON object's nested names dotted:
/// `account.email`), sorted.
fn field_names(parts: &Parts, body: &[u8]) -> Vec<String> {
    let mut names = Vec::new();
    match content_type(parts).as_deref() {
        Some("application/json") => {
            if let Ok(serde_json::Value::Object(o)) = serde_json::from_slice(body) {
                json_names(&o, "", 0, &mut names);
            }
        }
        Some("application/x-www-form-urlencoded") => {
            names.extend(url::form_urlencoded::parse(body).map(|(k, _)| k.into_owned()));
        }
        _ => {}
    }
    names.sort();
    names.dedup();
    names
}

fn json_names(
    o: &serde_json::Map<String, serde_json::Value>,
    prefix: &str,
    depth: usize,
    out: &mut Vec<String>,
) {
    for (k, v) in o {
        let name = format!("{prefix}{k}");
        match v {
            serde_json::Value::Object(inner) if depth < 2 => {
                json_names(inner, &format!("{name}."), depth + 1, out)
            }
            _ => out.push(name),
        }
    }
}

/// The account a server function names in its body (`id` or `account_id`): an ID, not a secret.
fn body_id(parts: &Parts, body: &[u8]) -> Option<String> {
    let wanted = |k: &str| k == "id" || k == "account_id";
    match content_type(parts).as_deref() {
        Some("application/x-www-form-urlencoded") => url::form_urlencoded::parse(body)
            .find(|(k, _)| wanted(k))
            .map(|(_, v)| v.into_owned()),
        Some("application/json") => serde_json::from_slice::<serde_json::Value>(body)
            .ok()?
            .as_object()?
            .iter()
            .find(|(k, _)| wanted(k))
            .and_then(|(_, v)| v.as_str().map(str::to_string)),
        _ => None,
    }
}

fn content_type(parts: &Parts) -> Option<String> {
    parts
        .headers
        .get(header::CONTENT_TYPE)?
        .to_str()
        .ok()?
        .split(';')
        .next()
        .map(|t| t.trim().to_ascii_lowercase())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    organisation: Option<String>,
    account: Option<String>,
    actor: Option<String>,
    limit: Option<u32>,
    before: Option<i64>,
}

/// One line of the audit trail.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct AuditEvent {
    pub id: i64,
    /// When (seconds since the Unix epoch); for counted hand-outs, the last.
    pub at: i64,
    /// For counted hand-outs, the first; else `at`.
    pub first_at: i64,
    /// `operator`, `api_key`, `connect_session` or `anonymous`.
    pub actor_kind: String,
    /// The API key's or connect session's ID.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor_id: Option<String>,
    /// The API key's name, the connect session's host.
    pub actor_name: String,
    /// The method and route, as `POST /api/v1/accounts`.
    pub action: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organisation_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// The names of the fields sent, never their values.
    pub fields: Vec<String>,
    /// The client's address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// How many times (counted access-token hand-outs), else 1.
    pub count: i64,
}

impl From<AuditRecord> for AuditEvent {
    fn from(r: AuditRecord) -> AuditEvent {
        AuditEvent {
            id: r.id,
            at: r.at,
            first_at: r.first_at,
            actor_kind: r.actor_kind.as_str().into(),
            actor_id: r.actor_id,
            actor_name: r.actor_name,
            action: r.action,
            organisation_id: r.organisation_id,
            account_id: r.account_id,
            fields: r.fields.0,
            address: r.address,
            count: r.count,
        }
    }
}

/// A page of the audit trail.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct AuditEventList {
    pub events: Vec<AuditEvent>,
    /// Pass as `before` for the next (older) page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<i64>,
}

const DEFAULT_PAGE: u32 = 50;
const MAX_PAGE: u32 = 200;

/// `GET /api/v1/audit-events`: the trail, newest first. A key restricted to one organisation
/// sees that organisation's lines only.
#[utoipa::path(get, path = "/audit-events", operation_id = "list_audit_events", tag = "audit",
    params(
        ("organisation" = Option<String>, Query, description = "Only this organisation's (its ID)"),
        ("account" = Option<String>, Query, description = "Only this account's"),
        ("actor" = Option<String>, Query, description = "Only this API key's or connect session's (its ID)"),
        ("limit" = Option<u32>, Query, description = "At most this many (1 to 200; default 50)"),
        ("before" = Option<i64>, Query, description = "The `next` of the previous page"),
    ),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The lines the caller may see, newest first", body = AuditEventList),
        (status = 400, description = "A bad query", body = ErrorBody),
        (status = 401, description = "No valid API key", body = ErrorBody),
        (status = 403, description = "Without accounts.read", body = ErrorBody),
    ))]
pub async fn list(
    State(state): State<AppState>,
    allowed: Allowed<ReadAccounts>,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<AuditEventList>, HttpError> {
    let Query(q) = query.map_err(|e| HttpError::InvalidQuery(e.body_text()))?;
    let limit = q.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(HttpError::InvalidQuery(format!(
            "limit is {limit}; ask for 1 to {MAX_PAGE}"
        )));
    }
    let organisation = match (allowed.caller.organisation(), q.organisation.as_deref()) {
        (Some(own), Some(asked)) if own != asked => {
            return Ok(Json(AuditEventList {
                events: Vec::new(),
                next: None,
            }))
        }
        (Some(own), _) => Some(own),
        (None, asked) => asked,
    };
    // Counted hand-outs still in memory are written first, so the page is complete.
    state.audit.flush().await;
    let mut lines = state
        .store
        .audit_events(&AuditFilter {
            organisation_id: organisation,
            account_id: q.account.as_deref(),
            actor_id: q.actor.as_deref(),
            before_id: q.before,
            limit: limit + 1,
        })
        .await?;
    let next = (lines.len() > limit as usize).then(|| {
        lines.truncate(limit as usize);
        lines.last().expect("a full page").id
    });
    Ok(Json(AuditEventList {
        events: lines.into_iter().map(AuditEvent::from).collect(),
        next,
    }))
}
