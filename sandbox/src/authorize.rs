//! `/sandbox/{tenant}/oauth2/v2.0/authorize`: the sign-in page. GET checks the request as
//! Microsoft does and asks who signs in; each POST moves one step (account → consent) and ends
//! with a redirect to the app carrying a `code` or an `error`. Errors before the redirect URI is
//! known good are shown on the page, never sent to an unverified address.

use std::collections::HashMap;

use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
    Form,
};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use sha2::{Digest, Sha256};

use super::SandboxState;
use super::{
    directory::{App, MultiTenantApp, Tenant, User},
    grants::Session,
    page::{error_page, esc, render},
    protocol::{
        find_app, find_multi_tenant_app, is_organizations, parse_scopes, Refusal, Scopes,
        ORGANIZATIONS,
    },
    Sandbox,
};

/// The request parameters the page carries from step to step.
const CARRIED: [&str; 11] = [
    "client_id",
    "response_type",
    "redirect_uri",
    "response_mode",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
    "nonce",
    "login_hint",
    "prompt",
];

type Params = HashMap<String, String>;

fn param<'p>(p: &'p Params, name: &str) -> &'p str {
    p.get(name).map(String::as_str).unwrap_or("")
}

enum Failure {
    /// Shown on the sandbox's page: the redirect URI cannot be trusted yet.
    Page(Refusal),
    /// Sent back to the app as `error` and `error_description`.
    Back(Refusal),
}

/// A refusal the app hears about.
fn back_to_app(error: &'static str, code: u32, text: impl Into<String>) -> Failure {
    Failure::Back(Refusal::new(StatusCode::BAD_REQUEST, error, code, text))
}

struct Request<'d> {
    tenant: &'d Tenant,
    app: App,
    scopes: Scopes,
    redirect_uri: String,
}

fn check<'d>(sandbox: &'d Sandbox, tenant: &str, p: &Params) -> Result<Request<'d>, Failure> {
    let (t, app) =
        find_app(&sandbox.directory, tenant, param(p, "client_id")).map_err(Failure::Page)?;
    let (scopes, redirect_uri) = check_app(&app, p)?;
    Ok(Request {
        tenant: t,
        app,
        scopes,
        redirect_uri,
    })
}

/// The checks that need only the app: redirect URI, response type, PKCE method, scopes.
fn check_app(app: &App, p: &Params) -> Result<(Scopes, String), Failure> {
    let redirect_uri = param(p, "redirect_uri");
    if !app.redirect_uris.iter().any(|u| u == redirect_uri) {
        return Err(Failure::Page(Refusal::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            50011,
            format!(
                "The redirect URI '{redirect_uri}' specified in the request does not match the \
                 redirect URIs configured for the application '{}'. Make sure the redirect URI \
                 sent in the request matches one added to your application in the Azure portal.",
                app.client_id
            ),
        )));
    }
    if param(p, "response_type") != "code" {
        return Err(back_to_app(
            "unsupported_response_type",
            700054,
            "response_type 'code' is expected; this sandbox supports the authorization code \
                 flow only.",
        ));
    }
    let challenge = param(p, "code_challenge");
    let method = param(p, "code_challenge_method");
    if !challenge.is_empty() && method != "S256" {
        return Err(back_to_app(
            "invalid_request",
            5000,
            format!("The code_challenge_method '{method}' is not supported; use S256."),
        ));
    }
    let scopes = parse_scopes(param(p, "scope")).map_err(Failure::Back)?;
    Ok((scopes, redirect_uri.to_string()))
}

/// For `organizations`: the multi-tenant app, checked as far as it can be before anyone signed
/// in.
fn check_organizations<'d>(
    sandbox: &'d Sandbox,
    p: &Params,
) -> Result<&'d MultiTenantApp, Failure> {
    let app =
        find_multi_tenant_app(&sandbox.directory, param(p, "client_id")).map_err(Failure::Page)?;
    let seen = app.in_tenant().ok_or_else(|| {
        Failure::Page(Refusal::new(
            StatusCode::BAD_REQUEST,
            "invalid_client",
            700016,
            format!(
                "Application '{}' has no client secret in the sandbox file.",
                app.client_id
            ),
        ))
    })?;
    check_app(&seen, p)?;
    Ok(app)
}

fn back(redirect_uri: &str, state: &str, pairs: &[(&str, &str)]) -> Response {
    let mut url = match url::Url::parse(redirect_uri) {
        Ok(u) => u,
        Err(_) => return StatusCode::BAD_REQUEST.into_response(),
    };
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in pairs {
            q.append_pair(k, v);
        }
        if !state.is_empty() {
            q.append_pair("state", state);
        }
    }
    Redirect::to(url.as_str()).into_response()
}

fn fail(state_css: &str, p: &Params, f: Failure) -> Response {
    match f {
        Failure::Page(r) => error_page(state_css, &r),
        Failure::Back(r) => back(
            param(p, "redirect_uri"),
            param(p, "state"),
            &[("error", r.error), ("error_description", &r.description())],
        ),
    }
}

fn hidden(p: &Params) -> String {
    CARRIED
        .iter()
        .filter_map(|k| p.get(*k).map(|v| (k, v)))
        .map(|(k, v)| format!("<input type=\"hidden\" name=\"{k}\" value=\"{}\">", esc(v)))
        .collect()
}

pub async fn show(
    State(state): State<SandboxState>,
    Path(tenant): Path<String>,
    axum::extract::Query(p): axum::extract::Query<Params>,
) -> Response {
    let Some(sandbox) = state.sandbox.as_ref() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if is_organizations(&tenant) {
        return match check_organizations(sandbox, &p) {
            Ok(app) => organizations_page(&state.css_href, sandbox, app, &p, None),
            Err(f) => fail(&state.css_href, &p, f),
        };
    }
    let req = match check(sandbox, &tenant, &p) {
        Ok(r) => r,
        Err(f) => return fail(&state.css_href, &p, f),
    };
    account_page(&state.css_href, &tenant, &req, &p, None)
}

/// An account the sign-in page offers: username, display name, and a note (its tenant).
struct Choice<'a> {
    username: &'a str,
    display_name: &'a str,
    note: Option<&'a str>,
}

/// "Pick an account": the offered accounts (the hinted one checked) or one typed, posted back to
/// `/sandbox/{tenant}/…/authorize`.
fn pick_account_page(
    css: &str,
    tenant: &str,
    continue_to: &str,
    choices: &[Choice<'_>],
    p: &Params,
    problem: Option<&str>,
) -> Response {
    let hint = param(p, "login_hint");
    let offered = choices
        .iter()
        .any(|c| c.username.eq_ignore_ascii_case(hint));
    let mut list = String::new();
    for (i, c) in choices.iter().enumerate() {
        let checked = c.username.eq_ignore_ascii_case(hint) || (hint.is_empty() && i == 0);
        list += &format!(
            "<label class=\"choice\"><input type=\"radio\" name=\"username\" value=\"{u}\"{checked}> \
             {name} <code>{u}</code>{note}</label>",
            u = esc(c.username),
            name = esc(c.display_name),
            checked = if checked { " checked" } else { "" },
            note = c
                .note
                .map(|n| format!(" <span class=\"muted\">({})</span>", esc(n)))
                .unwrap_or_default(),
        );
    }
    let typed = !hint.is_empty() && !offered;
    let problem = problem
        .map(|m| {
            format!(
                "<p class=\"alert alert-error\" role=\"alert\">{}</p>",
                esc(m)
            )
        })
        .unwrap_or_default();
    let body = format!(
        "<h1>Pick an account</h1><p>to continue to {continue_to}</p>{problem}\
         <form method=\"post\" action=\"/sandbox/{tenant}/oauth2/v2.0/authorize\">{hidden}\
         <fieldset><legend>Account</legend>{list}\
         <label class=\"choice\"><input type=\"radio\" name=\"username\" value=\"\"{other_checked}> \
         Use another account:</label> \
         <input type=\"email\" name=\"other\" value=\"{other}\" aria-label=\"Another account\" \
         autocomplete=\"username\"></fieldset>\
         <input type=\"hidden\" name=\"step\" value=\"account\">\
         <p><button class=\"button button-primary\" type=\"submit\">Sign in</button></p></form>",
        tenant = esc(tenant),
        hidden = hidden(p),
        other_checked = if typed { " checked" } else { "" },
        other = if typed { esc(hint) } else { String::new() },
    );
    render(StatusCode::OK, css, "Sign in", &body)
}

/// A tenant's sign-in page: its own users.
fn account_page(
    css: &str,
    tenant: &str,
    req: &Request<'_>,
    p: &Params,
    problem: Option<&str>,
) -> Response {
    let choices: Vec<_> = req
        .tenant
        .users
        .iter()
        .map(|u| Choice {
            username: &u.username,
            display_name: &u.display_name,
            note: None,
        })
        .collect();
    let continue_to = format!(
        "<strong>{}</strong> (tenant <code>{}</code>)",
        esc(&req.app.display_name),
        esc(&req.tenant.domains[0])
    );
    pick_account_page(css, tenant, &continue_to, &choices, p, problem)
}

/// `organizations`' sign-in page: any work account of any tenant (the sandbox lists them all).
fn organizations_page(
    css: &str,
    sandbox: &Sandbox,
    app: &MultiTenantApp,
    p: &Params,
    problem: Option<&str>,
) -> Response {
    let choices: Vec<_> = sandbox
        .directory
        .tenants
        .iter()
        .flat_map(|t| {
            t.users.iter().map(move |u| Choice {
                username: &u.username,
                display_name: &u.display_name,
                note: Some(t.domains[0].as_str()),
            })
        })
        .collect();
    let publisher = if app.publisher.is_empty() {
        String::new()
    } else {
        format!(" by {}", esc(&app.publisher))
    };
    let continue_to = format!(
        "<strong>{}</strong>{publisher} (any work or school account)",
        esc(&app.display_name)
    );
    pick_account_page(css, ORGANIZATIONS, &continue_to, &choices, p, problem)
}

fn consent_page(css: &str, tenant: &str, req: &Request<'_>, user: &User, p: &Params) -> Response {
    let scopes: String = req
        .scopes
        .granted
        .iter()
        .chain(req.scopes.oidc.iter())
        .map(|s| format!("<li><code>{}</code></li>", esc(s)))
        .collect();
    let body = format!(
        "<h1>Permissions requested</h1><p><strong>{app}</strong> wants to:</p><ul>{scopes}</ul>\
         <p>Signed in as <code>{user}</code>. Accepting lets the app use these permissions on \
         your behalf.</p>\
         <form method=\"post\" action=\"/sandbox/{tenant}/oauth2/v2.0/authorize\">{hidden}\
         <input type=\"hidden\" name=\"step\" value=\"consent\">\
         <input type=\"hidden\" name=\"username\" value=\"{user}\">\
         <p class=\"actions\"><button class=\"button button-primary\" name=\"decision\" value=\"accept\">Accept</button> \
         <button class=\"button button-secondary\" name=\"decision\" value=\"decline\">Cancel</button></p></form>",
        app = esc(&req.app.display_name),
        user = esc(&user.username),
        tenant = esc(tenant),
        hidden = hidden(p),
    );
    render(StatusCode::OK, css, "Permissions requested", &body)
}

fn admin_approval_page(
    css: &str,
    tenant: &str,
    req: &Request<'_>,
    user: &User,
    p: &Params,
) -> Response {
    let body = format!(
        "<h1>Need admin approval</h1><p><strong>{app}</strong> needs permission to access \
         resources in your organization that only an admin can grant. Please ask an admin to \
         grant permission to this app before you can use it.</p>\
         <p class=\"muted\">AADSTS90094: Admin consent is required for the permissions \
         requested by this application.</p>\
         <form method=\"post\" action=\"/sandbox/{tenant}/oauth2/v2.0/authorize\">{hidden}\
         <input type=\"hidden\" name=\"step\" value=\"consent\">\
         <input type=\"hidden\" name=\"username\" value=\"{user}\">\
         <p><button class=\"button button-secondary\" name=\"decision\" value=\"return\">Return to the application \
         without granting consent</button></p></form>",
        app = esc(&req.app.display_name),
        user = esc(&user.username),
        tenant = esc(tenant),
        hidden = hidden(p),
    );
    render(StatusCode::OK, css, "Need admin approval", &body)
}

pub async fn decide(
    State(state): State<SandboxState>,
    Path(tenant): Path<String>,
    Form(p): Form<Params>,
) -> Response {
    let Some(sandbox) = state.sandbox.as_ref() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let css = state.css_href.as_ref();
    let username = match param(&p, "username") {
        "" => param(&p, "other").trim(),
        u => u,
    };
    // `organizations`: the user's own tenant answers from here on (pages keep posting to
    // `organizations`, and each post finds the tenant again).
    let home;
    let tenant_of_request = if is_organizations(&tenant) {
        let app = match check_organizations(sandbox, &p) {
            Ok(a) => a,
            Err(f) => return fail(css, &p, f),
        };
        if username.is_empty() {
            return organizations_page(css, sandbox, app, &p, Some("Pick an account or type one."));
        }
        let Some(t) = sandbox.directory.home_tenant(username) else {
            return organizations_page(
                css,
                sandbox,
                app,
                &p,
                Some(&format!(
                    "AADSTS50034: The user account {username} does not exist in any tenant of \
                     this sandbox. Check the address, or add the user to the sandbox file."
                )),
            );
        };
        home = t.id.clone();
        home.as_str()
    } else {
        tenant.as_str()
    };
    let req = match check(sandbox, tenant_of_request, &p) {
        Ok(r) => r,
        Err(f) => return fail(css, &p, f),
    };
    if username.is_empty() {
        return account_page(css, &tenant, &req, &p, Some("Pick an account or type one."));
    }
    let Some(user) = req.tenant.user(username) else {
        return fail(
            css,
            &p,
            back_to_app(
                "access_denied",
                50020,
                format!(
                    "User account '{username}' from identity provider does not exist in \
                         tenant '{}' and cannot access the application '{}'({}) in that tenant. \
                         The account needs to be added as an external user in the tenant first.",
                    req.tenant.domains[0], req.app.client_id, req.app.display_name
                ),
            ),
        );
    };
    let session = Session {
        tenant_id: req.tenant.id.clone(),
        client_id: req.app.client_id.clone(),
        username: user.username.clone(),
        scopes: req.scopes.clone(),
    };
    let consented = sandbox.grants.has_consent(&session);
    if !consented {
        let may_consent = req.tenant.user_consent || user.admin;
        match (param(&p, "step"), param(&p, "decision")) {
            ("consent", "accept") if may_consent => sandbox.grants.consent_for_user(&session),
            ("consent", "decline") => {
                return fail(
                    css,
                    &p,
                    back_to_app(
                        "access_denied",
                        65004,
                        "User declined to consent to access the app.",
                    ),
                )
            }
            ("consent", "return") => {
                return fail(
                    css,
                    &p,
                    back_to_app(
                        "consent_required",
                        65001,
                        format!(
                            "The user or administrator has not consented to use the \
                                 application with ID '{}' named '{}'. Send an interactive \
                                 authorization request for this user and resource.",
                            req.app.client_id, req.app.display_name
                        ),
                    ),
                )
            }
            _ if may_consent => return consent_page(css, &tenant, &req, user, &p),
            _ => return admin_approval_page(css, &tenant, &req, user, &p),
        }
    }
    let challenge = Some(param(&p, "code_challenge"))
        .filter(|c| !c.is_empty())
        .map(str::to_string);
    let nonce = Some(param(&p, "nonce"))
        .filter(|c| !c.is_empty())
        .map(str::to_string);
    let code = sandbox
        .grants
        .issue_code(session, &req.redirect_uri, challenge, nonce);
    back(&req.redirect_uri, param(&p, "state"), &[("code", &code)])
}

/// RFC 7636 S256: `BASE64URL(SHA256(verifier)) == challenge`.
pub fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    let digest = Sha256::digest(verifier.as_bytes());
    let expected = URL_SAFE_NO_PAD.encode(digest);
    // Both are public once the code is redeemed; a plain comparison is fine.
    expected == challenge
}

#[cfg(test)]
mod tests {
    #[test]
    fn pkce_s256_matches_rfc_7636_appendix_b() {
        assert!(super::pkce_matches(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
        assert!(!super::pkce_matches(
            "other",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
    }
}
