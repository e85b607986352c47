//! The sign-in's HTTP ends: `/accounts/{id}/sign-in` and `/accounts/{id}/admin-consent` start a
//! round trip to Microsoft (the popup opens the first synchronously, so Mailkey's own origin
//! starts it); `/oauth/callback` is where Microsoft sends the browser back.
//!
//! The callback answers with `Cache-Control: no-store` and `Referrer-Policy: no-referrer` (its URL
//! held a code), loads nothing from elsewhere, and in a popup tells its opener with `postMessage`
//! to Mailkey's own origin, never `*`. The wizard also polls the server, so nothing depends on
//! the opener still being there.

use std::collections::HashMap;

use axum::{
    extract::{Path, Query, State},
    http::{header, HeaderValue, StatusCode},
    response::{
        sse::{Event, KeepAlive, Sse},
        Html, IntoResponse, Redirect, Response,
    },
    Extension,
};
use base64::{engine::general_purpose::STANDARD, Engine};
use mailkey_app::{draft::Step, sign_in::SignInOutcome};
use rand::RngCore;

use super::html::esc;
use crate::{
    auth::OperatorSession,
    sign_in::{Finished, Mode, Purpose, SignInError, StateRefusal},
    state::AppState,
};

/// A small page of Mailkey's own, with the headers every sign-in page carries.
fn page(status: StatusCode, css: &str, title: &str, body: &str, script: Option<&str>) -> Response {
    let mut nonce = [0u8; 16];
    rand::rng().fill_bytes(&mut nonce);
    let nonce = STANDARD.encode(nonce);
    let script = script
        .map(|s| format!("<script nonce=\"{nonce}\">{s}</script>"))
        .unwrap_or_default();
    let html = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · Mailkey</title>\
         <link rel=\"icon\" href=\"/favicon.svg\" type=\"image/svg+xml\"><link rel=\"stylesheet\" href=\"{css}\"></head>\
         <body><div class=\"app\"><main class=\"main\"><section class=\"panel\">{body}</section>\
         </main></div>{script}</body></html>",
        title = esc(title),
        css = esc(css),
    );
    let mut res = (status, Html(html)).into_response();
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if let Ok(csp) = format!(
        "default-src 'none'; script-src 'nonce-{nonce}'; style-src 'self'; img-src 'self'; base-uri 'none'; \
         form-action 'none'; frame-ancestors 'none'"
    )
    .parse()
    {
        h.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    res
}

/// A redirect that keeps the address it leaves (it may hold a code or state) to itself.
fn go(to: &str) -> Response {
    let mut res = Redirect::to(to).into_response();
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    res
}

fn failure(state: &AppState, e: SignInError, id: &str) -> Response {
    let css = state.css_href.as_ref();
    match e {
        SignInError::NotReady(step) => go(&format!("/accounts/{id}/setup/{}", step.number())),
        SignInError::NotFound => page(
            StatusCode::NOT_FOUND,
            css,
            "Account not found",
            "<h1>Account not found</h1><p>There is no such account. \
             <a href=\"/\">Back to mailboxes</a></p>",
            None,
        ),
        SignInError::ProviderOff(name) => page(
            StatusCode::CONFLICT,
            css,
            "Provider off",
            &format!(
                "<h1>Cannot sign in</h1><p>This account uses {}, which this Mailkey no longer \
                 offers. The operator can turn it back on.</p>",
                esc(name)
            ),
            None,
        ),
        SignInError::OperatorAppOff(name) => page(
            StatusCode::CONFLICT,
            css,
            "App not configured",
            &format!(
                "<h1>Cannot sign in</h1><p>This account signs in with this Mailkey's own app for \
                 {}, which is no longer configured. The operator sets it again on the Settings \
                 page (or with operator_app_client_id and operator_app_client_secret).</p>",
                esc(name)
            ),
            None,
        ),
        e => {
            tracing::error!(account = %id, error = %e, "sign-in failed on the server");
            page(
                StatusCode::INTERNAL_SERVER_ERROR,
                css,
                "Sign-in failed",
                "<h1>Sign-in failed</h1><p>Mailkey could not complete this on its side. The \
                 operator should check the server log. <a href=\"/\">Back to mailboxes</a></p>",
                None,
            )
        }
    }
}

/// A short page of Mailkey's own saying one thing (the embedded sign-in's refusals).
pub(crate) fn notice_page(
    state: &AppState,
    status: StatusCode,
    title: &str,
    words: &str,
) -> Response {
    page(
        status,
        &state.css_href,
        title,
        &format!("<h1>{}</h1><p>{}</p>", esc(title), esc(words)),
        None,
    )
}

/// A sign-in that could not start, explained.
pub(crate) fn failure_page(state: &AppState, e: SignInError, id: &str) -> Response {
    failure(state, e, id)
}

async fn begin(
    state: AppState,
    session: Option<OperatorSession>,
    id: String,
    mode: Mode,
    purpose: Purpose,
) -> Response {
    let Some(session) = session else {
        // The home page explains how an operator gets in.
        return go("/");
    };
    match state
        .sign_in
        .start(&id, &session.id_hash, mode, purpose)
        .await
    {
        Ok(url) => go(&url),
        Err(e) => failure(&state, e, &id),
    }
}

pub async fn start(
    State(state): State<AppState>,
    session: Option<Extension<OperatorSession>>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let mode = match q.get("mode").map(String::as_str) {
        Some("popup") => Mode::Popup,
        _ => Mode::Redirect,
    };
    begin(state, session.map(|s| s.0), id, mode, Purpose::SignIn).await
}

pub async fn admin_consent(
    State(state): State<AppState>,
    session: Option<Extension<OperatorSession>>,
    Path(id): Path<String>,
) -> Response {
    begin(
        state,
        session.map(|s| s.0),
        id,
        Mode::Redirect,
        Purpose::AdminConsent,
    )
    .await
}

/// `POST /accounts/{id}/admin-consent-link`: "Get a link for your administrator". The link is
/// Microsoft's admin-consent address for the organisation, so the administrator sees at a glance
/// that it leads to Microsoft, carrying a `state` of Mailkey's own that works once, for a week,
/// from any browser. Shown once on this page (only its hash is kept), never logged.
pub async fn admin_consent_link(
    State(state): State<AppState>,
    session: Option<Extension<OperatorSession>>,
    Path(id): Path<String>,
) -> Response {
    let Some(Extension(session)) = session else {
        return go("/");
    };
    let url = match state
        .sign_in
        .start(&id, &session.id_hash, Mode::Shared, Purpose::AdminConsent)
        .await
    {
        Ok(url) => url,
        Err(e) => return failure(&state, e, &id),
    };
    let names = match state.wizard.load(&id).await {
        Ok(d) => AccountNames::of(&d),
        Err(_) => return failure(&state, SignInError::NotFound, &id),
    };
    tracing::info!(account = %id, "admin-consent link made for an administrator");
    let days = crate::sign_in::SHARED_LINK_LIFETIME_SECS / 86_400;
    let subject = format!("Please approve {} for our organisation", names.app);
    let body_text = format!(
        "Hello,\n\nTo connect the mailbox {mailbox} to {app}, an administrator of our Microsoft \
         365 organisation must approve the app once for the organisation. Please open this \
         Microsoft link, sign in with your administrator account and choose Accept:\n\n{url}\n\n\
         The link works once, for {days} days. Thank you!",
        mailbox = names.mailbox,
        app = names.app,
    );
    let mailto = format!(
        "mailto:?subject={}&body={}",
        urlencoding(&subject),
        urlencoding(&body_text)
    );
    page(
        StatusCode::OK,
        &state.css_href,
        "Link for your administrator",
        &format!(
            "<p class=\"eyebrow\">{mailbox}</p>\
             <h1>Send this link to your administrator</h1>\
             <p>Your organisation lets only administrators approve apps such as {app}. An \
             administrator (Global, Application or Cloud Application Administrator) opens the \
             link, signs in to Microsoft and approves {app} for the whole organisation, once.</p>\
             <label class=\"field-label\" for=\"consent-link\">Admin-consent link (Microsoft)</label>\
             <textarea id=\"consent-link\" class=\"consent-link\" readonly rows=\"5\">{url}</textarea>\
             <p class=\"field-hint\">It works once, for {days} days, from any browser. It grants \
             nothing by itself: the administrator still decides on Microsoft's page.</p>\
             <p><a class=\"button button-primary\" href=\"{mailto}\">Email it</a></p>\
             <p>When your administrator says it is done, sign in again: no permissions page \
             will appear.</p>\
             <p><a class=\"button button-secondary\" href=\"{back}\">Back to the account</a></p>",
            mailbox = esc(&names.mailbox),
            app = esc(&names.app),
            url = esc(&url),
            mailto = esc(&mailto),
            back = esc(&result_path(&id)),
        ),
        None,
    )
}

/// Percent-encodes a `mailto:` part (RFC 6068): everything but unreserved characters.
fn urlencoding(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// How the pages name an account's app and mailbox.
struct AccountNames {
    app: String,
    mailbox: String,
}

impl AccountNames {
    fn of(d: &mailkey_app::draft::Draft) -> AccountNames {
        let app = match &d.operator_app {
            Some(name) => format!("{name}'s app"),
            None if !d.app.app_name.trim().is_empty() => d.app.app_name.trim().to_string(),
            None => "the app".to_string(),
        };
        AccountNames {
            app,
            mailbox: d.mailbox.email.trim().to_string(),
        }
    }
}

/// What the administrator who opened a shared admin-consent link sees when Microsoft sends
/// them back: done (the user signs in again), or what went wrong and how to retry.
fn administrator_page(state: &AppState, names: &AccountNames, outcome: &SignInOutcome) -> Response {
    let (status, title, body) = match outcome {
        SignInOutcome::ConsentGranted => (
            StatusCode::OK,
            "Consent granted",
            format!(
                "<h1>Consent granted</h1>\
                 <p class=\"alert alert-success\" role=\"status\">{app} is approved for your \
                 organisation.</p>\
                 <p>Nothing more is needed from you. Ask the person connecting {mailbox} to sign \
                 in again in Mailkey; they will not see a permissions page.</p>\
                 <p class=\"field-hint\">To withdraw it later: Entra admin center → Enterprise \
                 applications → {app} → Properties → Delete, or Permissions.</p>",
                app = esc(&names.app),
                mailbox = esc(&names.mailbox),
            ),
        ),
        SignInOutcome::Failed { problem } => (
            StatusCode::OK,
            "Consent not granted",
            format!(
                "<h1>Consent not granted</h1>\
                 <div class=\"alert alert-error\" role=\"alert\"><h2>{title}</h2>\
                 <p><strong>What happened: </strong>{what}</p>\
                 <p><strong>Why: </strong>{why}</p></div>\
                 <p>Nothing was approved. To try again, ask the person connecting {mailbox} for a \
                 new link (this one has been used), and choose Accept on Microsoft's page. Only \
                 an administrator of the organisation can approve it.</p>",
                title = esc(&problem.title),
                what = esc(&problem.what),
                why = esc(&problem.why),
                mailbox = esc(&names.mailbox),
            ),
        ),
        SignInOutcome::Connected { .. } => (
            StatusCode::OK,
            "Done",
            "<h1>Done</h1><p>You can close this window.</p>".to_string(),
        ),
    };
    page(status, &state.css_href, title, &body, None)
}

/// How long the wizard's stream waits for a sign-in to finish: as long as a `state` lives.
const STREAM_LIFETIME: std::time::Duration = std::time::Duration::from_secs(600);
const STREAM_CHECK_EVERY: std::time::Duration = std::time::Duration::from_millis(750);

/// Who finished a sign-in, as the audit trail names them.
#[derive(Clone, Copy)]
enum CallbackBy {
    Operator,
    EmbeddedWizard,
    SharedLink,
}

/// A finished sign-in is a change the trail records though it arrives as a `GET`: a refresh
/// token stored (or an administrator's consent given). Only the names of what it stored.
async fn record_sign_in(
    state: &AppState,
    account_id: &str,
    outcome: &SignInOutcome,
    by: CallbackBy,
    address: Option<std::net::IpAddr>,
) {
    let stored = match outcome {
        SignInOutcome::Connected { .. } => "refresh_token",
        SignInOutcome::ConsentGranted => "admin_consent",
        SignInOutcome::Failed { .. } => return,
    };
    let organisation_id = match state.store.account_summary(account_id).await {
        Ok(Some(a)) => Some(a.organisation_id),
        _ => None,
    };
    let actor = match by {
        CallbackBy::Operator => crate::audit::Actor::operator(),
        CallbackBy::EmbeddedWizard => crate::audit::Actor {
            kind: crate::storage::ActorKind::ConnectSession,
            id: None,
            name: "embedded wizard's sign-in window".into(),
            organisation_id: organisation_id.clone(),
            account_id: Some(account_id.to_string()),
        },
        CallbackBy::SharedLink => crate::audit::Actor {
            name: "administrator (shared consent link)".into(),
            ..crate::audit::Actor::anonymous()
        },
    };
    let change = crate::audit::Change {
        action: "GET /oauth/callback".into(),
        organisation_id,
        account_id: Some(account_id.to_string()),
        fields: vec![stored.to_string()],
        address,
    };
    state.audit.record(&actor, change).await;
}

/// `GET /accounts/{id}/sign-in/events?since=<attempt>`: a server-sent event `finished` once an
/// attempt of this browser for the account finishes other than `since` (the latest one the page
/// already shows). The wizard listens while the
/// popup is open, so it needs neither `window.opener` nor the top window.
pub async fn events(
    State(state): State<AppState>,
    session: Option<Extension<OperatorSession>>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Some(Extension(session)) = session else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let since: Option<i64> = q.get("since").and_then(|s| s.parse().ok());
    // Held while the stream is open: the session's place among its open streams.
    let slot = match state.stream_caps.open(session.id_hash) {
        Ok(slot) => slot,
        Err(e) => return e.into_response(),
    };
    let store = state.store.clone();
    let deadline = tokio::time::Instant::now() + STREAM_LIFETIME;
    let stream = futures_util::stream::unfold(false, move |done| {
        let store = store.clone();
        let id = id.clone();
        let _slot = &slot;
        async move {
            if done {
                return None;
            }
            loop {
                if tokio::time::Instant::now() >= deadline {
                    return None;
                }
                match store.latest_outcome(&id, &session.id_hash).await {
                    Ok(Some(latest)) if Some(latest.row) != since => {
                        let event = Event::default()
                            .event("finished")
                            .data(latest.row.to_string());
                        return Some((Ok::<_, std::convert::Infallible>(event), true));
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "sign-in stream cannot read the outcome");
                        return None;
                    }
                }
                tokio::time::sleep(STREAM_CHECK_EVERY).await;
            }
        }
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// The popup of a revoked connect session: nothing was stored.
fn revoked_page(css: &str) -> Response {
    page(
        StatusCode::GONE,
        css,
        "Sign-in withdrawn",
        "<h1>Sign-in withdrawn</h1><p class=\"alert alert-error\">The application withdrew this \
         connection while you were signing in, so Mailkey stored nothing. Close this window and \
         start the connection again from the application.</p>",
        None,
    )
}

/// Where the wizard shows the result (scrolled to it: on a phone the review is long).
fn result_path(id: &str) -> String {
    format!(
        "/accounts/{id}/setup/{}#sign-in-heading",
        Step::Review.number()
    )
}

pub async fn callback(
    State(state): State<AppState>,
    session: Option<Extension<OperatorSession>>,
    connected_from: Option<Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
    headers: axum::http::HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let css = state.css_href.clone();
    // The browser that started it: the operator's session, or the embedded wizard's popup (its
    // own cookie). An attempt is claimed only by the binding it was started with.
    let popup = super::embed::popup_binding(&headers);
    let operator = session.as_ref().map(|s| s.0.id_hash);
    // A popup whose connect session the host revoked meanwhile connects nothing: the revoke
    // stops the sign-in it had started, not only the page.
    let popup_revoked = match popup {
        Some(p) => match state.store.popup_session_revoked(&p).await {
            Ok(r) => r,
            Err(e) => return super::error::HttpError::Storage(e).into_response(),
        },
        None => false,
    };
    if popup_revoked && operator.is_none() {
        return revoked_page(&css);
    }
    let mut embedded = operator.is_none() && popup.is_some();
    let mut finished = state
        .sign_in
        .finish(&q, operator.or(popup).as_ref().map(|h| &h[..]))
        .await;
    // An operator who also connected a mailbox through an embedded wizard in this browser: the
    // attempt may be the popup's. (A refusal for another browser claims nothing: safe to retry.)
    if let (Some(_), Some(p), Ok(Finished::Refused(StateRefusal::OtherBrowser))) =
        (operator, popup, &finished)
    {
        if popup_revoked {
            return revoked_page(&css);
        }
        finished = state.sign_in.finish(&q, Some(&p[..])).await;
        embedded = true;
    }
    let finished = match finished {
        Ok(f) => f,
        Err(e) => return failure(&state, e, "(callback)"),
    };
    let (account_id, mode, outcome) = match finished {
        Finished::Refused(why) => {
            tracing::warn!(reason = ?why, "sign-in callback refused");
            return page(
                StatusCode::BAD_REQUEST,
                &css,
                "Sign-in not accepted",
                &format!(
                    "<h1>Sign-in not accepted</h1><p class=\"alert alert-error\">{}</p>{}",
                    esc(why.message()),
                    if why.is_shared_link() {
                        ""
                    } else {
                        "<p><a class=\"button button-secondary\" href=\"/\">Back to mailboxes</a></p>"
                    }
                ),
                None,
            );
        }
        Finished::Done {
            account_id,
            mode,
            outcome,
        } => (account_id, mode, outcome),
    };
    let by = if embedded {
        CallbackBy::EmbeddedWizard
    } else if mode == Mode::Shared {
        CallbackBy::SharedLink
    } else {
        CallbackBy::Operator
    };
    record_sign_in(
        &state,
        &account_id,
        &outcome,
        by,
        connected_from.map(|Extension(c)| c.0.ip()),
    )
    .await;
    let back = result_path(&account_id);
    if embedded {
        // The embedded wizard learns the result from the server; this window only closes.
        let (title, text) = match &outcome {
            SignInOutcome::Connected { username } => (
                "Signed in",
                format!("Signed in as {}. You can close this window.", esc(username)),
            ),
            SignInOutcome::ConsentGranted => (
                "Consent granted",
                "Admin consent was granted. You can close this window.".to_string(),
            ),
            SignInOutcome::Failed { problem } => (
                "Sign-in failed",
                format!(
                    "{}. The page you came from explains what to do; you can close this window.",
                    esc(&problem.title)
                ),
            ),
        };
        return page(
            StatusCode::OK,
            &css,
            title,
            &format!("<h1>{title}</h1><p role=\"status\">{text}</p>"),
            Some("setTimeout(function(){window.close();},600);"),
        );
    }
    match mode {
        Mode::Redirect => return go(&back),
        Mode::Shared => {
            let names = match state.wizard.load(&account_id).await {
                Ok(d) => AccountNames::of(&d),
                Err(_) => AccountNames {
                    app: "the app".into(),
                    mailbox: "the mailbox".into(),
                },
            };
            return administrator_page(&state, &names, &outcome);
        }
        Mode::Popup => {}
    }
    let (title, text) = match &outcome {
        SignInOutcome::Connected { username } => (
            "Signed in",
            format!(
                "Signed in as {}. This window closes by itself.",
                esc(username)
            ),
        ),
        SignInOutcome::ConsentGranted => (
            "Consent granted",
            "Admin consent was granted. This window closes by itself.".to_string(),
        ),
        SignInOutcome::Failed { problem } => (
            "Sign-in failed",
            format!(
                "{}. Mailkey's page explains what to do; this window closes by itself.",
                esc(&problem.title)
            ),
        ),
    };
    let origin = state.origin_policy.expected.clone();
    // The message carries no data: the wizard reads the result from the server. Both strings
    // are JSON-encoded, so they cannot close the script element.
    let script = format!(
        "(function(){{var done=false;try{{if(window.opener){{window.opener.postMessage(\
         \"mailkey:sign-in-finished\",{origin});done=true;}}}}catch(e){{}}\
         if(done){{setTimeout(function(){{window.close();}},400);}}}})();",
        origin = serde_json::to_string(&origin)
            .expect("a string serialises")
            .replace('<', "\\u003c"),
    );
    page(
        StatusCode::OK,
        &css,
        title,
        &format!(
            "<h1>{title}</h1><p role=\"status\">{text}</p>\
             <p>If it stays open, close it, or <a href=\"{back}\">continue here</a>.</p>",
            back = esc(&back)
        ),
        Some(&script),
    )
}
