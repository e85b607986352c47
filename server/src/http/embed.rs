//! The embedded wizard's own endpoints (`/embed/…`). The page exchanges its launch token once
//! (`POST /embed/session`) for a credential it keeps in memory and sends as
//! `Authorization: Bearer …`: no cookie, so it works in a cross-origin iframe with third-party
//! cookies blocked. [`EmbedCaller`] says which session is calling; every route reaches only
//! that session's account.
//!
//! Sign-in: Microsoft refuses to be framed, so the frame opens a popup in the click and sends
//! it to a one-time ticket (`/embed/sign-in/{ticket}`). The popup is top-level on Mailkey, where
//! a first-party cookie works: it binds the round trip to that window (as the operator's session
//! cookie does in the portal). The frame learns the result from the server (long polls), so
//! nothing depends on `window.opener`.

use axum::{
    extract::{FromRequestParts, Path, Query, State},
    http::{header, request::Parts, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Redirect, Response},
    Json,
};
use mailkey_app::{
    api::AccountState,
    connect::{
        EmbedAppDetails, EmbedAppSaved, EmbedLaunch, EmbedSignInResult, EmbedState,
        EmbedTestStarted, EmbedTicket,
    },
    mail_test::{StageEvent, TestReport},
    sign_in::SignInOutcome,
};
use serde::{Deserialize, Serialize};
use std::time::Duration;

use super::{api_v1::Body, error::HttpError, tests_live};
use crate::{
    auth::token::{self, Token},
    connect::{ConnectSessions, Refusal},
    sign_in::{Mode, Purpose},
    state::AppState,
    storage::{ConnectSessionRecord, SessionMode},
};

/// The popup's cookie: binds one sign-in round trip to the window that started it. Over https
/// with the `__Host-` prefix (no subdomain can plant one).
const POPUP_COOKIE: &str = "mailkey_embed_sign_in";
const POPUP_COOKIE_SECURE: &str = "__Host-mailkey_embed_sign_in";
/// How long a long poll waits for news before answering "nothing yet".
const LONG_POLL: Duration = Duration::from_secs(20);

/// The session an embedded page calls with.
pub struct EmbedCaller(pub ConnectSessionRecord, pub [u8; 32]);

impl FromRequestParts<AppState> for EmbedCaller {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, HttpError> {
        let presented = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or(HttpError::EmbedSessionEnded)?;
        let found = state.connect_sessions.authenticate(presented).await;
        let session = match found.map_err(HttpError::Storage)? {
            Ok(s) => s,
            Err(Refusal::Revoked) => return Err(HttpError::EmbedSessionRevoked),
            Err(_) => return Err(HttpError::EmbedSessionEnded),
        };
        super::audit::AuditSlot::note(
            parts,
            crate::audit::Actor {
                kind: crate::storage::ActorKind::ConnectSession,
                id: Some(session.id.clone()),
                name: session.host_name.clone(),
                organisation_id: Some(session.organisation_id.clone()),
                account_id: Some(session.account_id.clone()),
            },
        );
        Ok(EmbedCaller(session, token::hash(presented)))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LaunchRequest {
    launch_token: String,
}

/// `POST /embed/session`: uses the launch token, once.
pub async fn launch(
    State(state): State<AppState>,
    body: Body<LaunchRequest>,
) -> Result<Response, HttpError> {
    match state
        .connect_sessions
        .launch(body.0.launch_token.trim())
        .await?
    {
        Ok((s, credential)) => {
            let external_id = state
                .store
                .account_summary(&s.account_id)
                .await?
                .and_then(|a| a.external_id);
            let account = embed_state(&state, &s).await?;
            tracing::info!(session = %s.id, account = %s.account_id, "connect session opened");
            // `Cache-Control: no-store` comes with every answer (security_headers).
            Ok(Json(EmbedLaunch {
                credential: credential.expose().to_string(),
                expires_at: s.expires_at,
                account_id: s.account_id,
                external_id,
                reconnect: s.mode == SessionMode::Reconnect,
                state: account,
            })
            .into_response())
        }
        Err((why, _)) => Err(HttpError::LaunchRefused(why)),
    }
}

/// `GET /embed/api/state`.
pub async fn account_state(
    State(state): State<AppState>,
    EmbedCaller(session, _): EmbedCaller,
) -> Result<Json<EmbedState>, HttpError> {
    embed_state(&state, &session).await.map(Json)
}

pub async fn embed_state(
    state: &AppState,
    session: &ConnectSessionRecord,
) -> Result<EmbedState, HttpError> {
    let id = &session.account_id;
    let record = state
        .store
        .draft(id)
        .await?
        .ok_or(HttpError::AccountNotFound)?;
    let draft = state
        .wizard
        .load(id)
        .await
        .map_err(super::api_accounts::draft_error)?;
    let app_name = draft.operator_app.clone().unwrap_or_else(|| {
        let own = draft.app.app_name.trim();
        if own.is_empty() {
            "your organisation's app".into()
        } else {
            own.to_string()
        }
    });
    // On its organisation's own app registration, and its setup not through the Mailbox step
    // yet: the page's app step stays open until then (a save that got the app in but found the
    // named mailbox unusable can be corrected and saved again).
    let app_missing = draft.app.client_id.trim().is_empty() || !draft.client_secret.set;
    let mailbox_pending = !draft.mailbox.email.trim().is_empty()
        && draft.saved_step < mailkey_app::draft::Step::Mailbox.number();
    let needs_app = draft.operator_app.is_none() && (app_missing || mailbox_pending);
    Ok(EmbedState {
        account_id: id.clone(),
        name: draft.mailbox.account_name.clone(),
        mailbox: draft.mailbox.email.clone(),
        state: record.state,
        connected: record.state == AccountState::Connected && record.refresh_token.is_some(),
        signed_in_as: record.signed_in_as.clone(),
        ready_to_sign_in: !needs_app
            && draft.saved_step >= mailkey_app::draft::Step::Mailbox.number(),
        problem: record.problem.clone(),
        app_name,
        needs_app,
        redirect_uri: draft.redirect_uri.clone(),
        today: draft.today,
    })
}

/// `PUT /embed/api/app`: the own app registration's details, saved as the wizard's Application
/// details step saves them (the same checks, field by field). The Redirect URI step has no
/// values, and a mailbox the host named is saved with its presets: the person then only signs
/// in.
pub async fn save_app(
    State(state): State<AppState>,
    EmbedCaller(session, _): EmbedCaller,
    body: Body<EmbedAppDetails>,
) -> Result<Json<EmbedAppSaved>, HttpError> {
    let id = &session.account_id;
    let before = embed_state(&state, &session).await?;
    if session.mode == SessionMode::Reconnect || !before.needs_app {
        return Err(HttpError::AppAlreadySet);
    }
    let v = body.0;
    let values = mailkey_app::draft::AppDetails {
        tenant: v.tenant,
        client_id: v.client_id,
        client_secret: v.client_secret,
        secret_expires: v.secret_expires,
        ..Default::default()
    };
    let draft_error = super::api_accounts::draft_error;
    let saved = crate::setup_steps::save_app(&state.wizard, &state.tokens, id, values)
        .await
        .map_err(draft_error)?;
    let mut warnings: Vec<String> = saved.warnings.0.into_iter().map(|n| n.message).collect();
    state
        .wizard
        .complete(id, mailkey_app::draft::Step::RedirectUri)
        .await
        .map_err(draft_error)?;
    let draft = state.wizard.load(id).await.map_err(draft_error)?;
    if !draft.mailbox.email.trim().is_empty()
        && draft.saved_step < mailkey_app::draft::Step::Mailbox.number()
    {
        let saved =
            crate::setup_steps::save_mailbox(&state.wizard, &state.tokens, id, draft.mailbox)
                .await
                .map_err(draft_error)?;
        warnings.extend(saved.warnings.0.into_iter().map(|n| n.message));
    }
    Ok(Json(EmbedAppSaved {
        state: embed_state(&state, &session).await?,
        warnings,
    }))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct TicketRequest {
    #[serde(default)]
    admin_consent: bool,
}

/// `POST /embed/api/sign-in`: a one-time ticket for the popup.
pub async fn sign_in_ticket(
    State(state): State<AppState>,
    EmbedCaller(session, _): EmbedCaller,
    body: Body<TicketRequest>,
) -> Result<Json<EmbedTicket>, HttpError> {
    // Only for a named mailbox: whoever signs in must be that mailbox (the sign-in checks it),
    // so a ticket passed on to someone else cannot connect their mailbox instead.
    let state_now = embed_state(&state, &session).await?;
    if state_now.mailbox.trim().is_empty() || !state_now.ready_to_sign_in {
        return Err(HttpError::InvalidBody(
            "this account's setup is not finished: it has no mailbox to sign in yet".into(),
        ));
    }
    let (ticket, url) = state
        .connect_sessions
        .sign_in_ticket(
            &session,
            if body.0.admin_consent {
                Purpose::AdminConsent
            } else {
                Purpose::SignIn
            },
        )
        .await?;
    // The frame polls by the ticket's hash: the ticket itself stays out of request paths.
    Ok(Json(EmbedTicket {
        url,
        ticket: crate::secrets::hex(&ticket.hash()),
    }))
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    s.len()
        .is_multiple_of(2)
        .then(|| {
            (0..s.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
                .collect()
        })
        .flatten()
}

/// `GET /embed/sign-in/{ticket}` in the popup: uses the ticket, binds the popup with its own
/// cookie, and sends it to Microsoft.
pub async fn popup_start(State(state): State<AppState>, Path(ticket): Path<String>) -> Response {
    let browser = Token::generate();
    let used = match state
        .store
        .use_sign_in_ticket(&token::hash(&ticket), &browser.hash())
        .await
    {
        Ok(u) => u,
        Err(e) => return HttpError::Storage(e).into_response(),
    };
    let Some(used) = used else {
        return super::sign_in::notice_page(
            &state,
            StatusCode::GONE,
            "Sign-in link used",
            "This sign-in window was already used or has expired. Close it and press the \
             sign-in button again.",
        );
    };
    let url = match state
        .sign_in
        .start(&used.account_id, &browser.hash(), Mode::Popup, used.purpose)
        .await
    {
        Ok(url) => url,
        Err(e) => return super::sign_in::failure_page(&state, e, &used.account_id),
    };
    tracing::info!(session = %used.session_id, account = %used.account_id, "embedded sign-in started");
    let mut res = Redirect::to(&url).into_response();
    let secure = state.operator_access.secure_cookies();
    let cookie = if secure {
        format!(
            "{POPUP_COOKIE_SECURE}={}; Path=/; HttpOnly; SameSite=Lax; Max-Age=900; Secure",
            browser.expose()
        )
    } else {
        format!(
            "{POPUP_COOKIE}={}; Path=/; HttpOnly; SameSite=Lax; Max-Age=900",
            browser.expose()
        )
    };
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    res
}

/// The popup's browser binding, for the callback: the hash of its cookie.
pub fn popup_binding(headers: &HeaderMap) -> Option<[u8; 32]> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(name, _)| *name == POPUP_COOKIE || *name == POPUP_COOKIE_SECURE)
        .map(|(_, value)| token::hash(value))
}

/// `GET /embed/api/sign-in/{ticket}`: waits (up to 20 s) for the popup's sign-in to finish.
pub async fn sign_in_result(
    State(state): State<AppState>,
    EmbedCaller(session, credential): EmbedCaller,
    Path(ticket): Path<String>,
) -> Result<Json<EmbedSignInResult>, HttpError> {
    let ticket_hash = unhex(&ticket).ok_or(HttpError::NotFound)?;
    // Held while it waits: a session's place among its open waits (as the portal's streams).
    let _slot = state.stream_caps.open(credential)?;
    let deadline = tokio::time::Instant::now() + LONG_POLL;
    loop {
        let browser = state
            .store
            .ticket_browser(&ticket_hash, &session.id)
            .await?
            .ok_or(HttpError::NotFound)?;
        if let Some(browser) = browser {
            if let Some(latest) = state
                .store
                .latest_outcome(&session.account_id, &browser)
                .await?
            {
                let outcome = latest.outcome;
                return Ok(Json(EmbedSignInResult {
                    finished: true,
                    connected: matches!(outcome, SignInOutcome::Connected { .. }),
                    consent_granted: matches!(outcome, SignInOutcome::ConsentGranted),
                    problem: match outcome {
                        SignInOutcome::Failed { problem } => Some(problem),
                        _ => None,
                    },
                }));
            }
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(Json(EmbedSignInResult {
                finished: false,
                connected: false,
                consent_granted: false,
                problem: None,
            }));
        }
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
}

/// `POST /embed/api/tests`: starts the account's connection test.
pub async fn start_test(
    State(state): State<AppState>,
    EmbedCaller(session, credential): EmbedCaller,
) -> Result<Response, HttpError> {
    match tests_live::begin(&state, &session.account_id, credential).await? {
        tests_live::Began::Started(run) => {
            Ok((StatusCode::ACCEPTED, Json(EmbedTestStarted { run })).into_response())
        }
        tests_live::Began::Busy => Err(HttpError::TestRunning),
        tests_live::Began::Limited(e) => Err(e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProgressQuery {
    #[serde(default)]
    after: usize,
}

#[derive(Serialize)]
pub struct Progress {
    events: Vec<StageEvent>,
    report: Option<TestReport>,
}

/// `GET /embed/api/tests/{run}?after=N`: the stages after the first N, waiting up to 20 s for
/// news; the report once done.
pub async fn test_progress(
    State(state): State<AppState>,
    EmbedCaller(_, credential): EmbedCaller,
    Path(run): Path<String>,
    Query(q): Query<ProgressQuery>,
) -> Result<Json<Progress>, HttpError> {
    let _slot = state.stream_caps.open(credential)?;
    let (events, report) = tests_live::progress(&state, &run, credential, q.after, LONG_POLL)
        .await?
        .ok_or(HttpError::NotFound)?;
    Ok(Json(Progress { events, report }))
}

/// The launch token's page: what it may still do, without using it.
pub async fn preview(
    connect: &ConnectSessions,
    launch_token: &str,
) -> Result<mailkey_app::connect::EmbedPreview, crate::storage::StorageError> {
    let (refused, session) = match connect.preview(launch_token).await? {
        Ok(s) => (None, Some(s)),
        Err((why, s)) => (Some(why), s),
    };
    Ok(mailkey_app::connect::EmbedPreview {
        refused: refused.map(|r: Refusal| (r.code().to_string(), r.words().to_string())),
        organisation: session
            .as_ref()
            .map(|s| s.organisation_name.clone())
            .unwrap_or_default(),
        host_name: session
            .as_ref()
            .map(|s| s.host_name.clone())
            .unwrap_or_default(),
        parent_origins: session
            .as_ref()
            .map(|s| s.origins.clone())
            .unwrap_or_default(),
        return_url: session.and_then(|s| s.return_url),
    })
}
