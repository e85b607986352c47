//! `/sandbox/{tenant}/v2.0/adminconsent`: an administrator grants an app its permissions for the
//! whole tenant, then returns to the app with `admin_consent=True` (or an `error`).

use std::collections::HashMap;

use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
    Form,
};

use super::SandboxState;
use super::{
    page::{error_page, esc, render},
    protocol::{find_app, find_multi_tenant_app, is_organizations, Refusal, ORGANIZATIONS},
    Sandbox,
};

type Params = HashMap<String, String>;

fn get<'p>(p: &'p Params, k: &str) -> &'p str {
    p.get(k).map(String::as_str).unwrap_or("")
}

fn back(redirect_uri: &str, pairs: &[(&str, &str)]) -> Response {
    match url::Url::parse(redirect_uri) {
        Ok(mut u) => {
            u.query_pairs_mut().extend_pairs(pairs);
            Redirect::to(u.as_str()).into_response()
        }
        Err(_) => StatusCode::BAD_REQUEST.into_response(),
    }
}

pub async fn show(
    State(state): State<SandboxState>,
    Path(tenant): Path<String>,
    Query(p): Query<Params>,
) -> Response {
    respond(state, tenant, p, false).await
}

pub async fn decide(
    State(state): State<SandboxState>,
    Path(tenant): Path<String>,
    Form(p): Form<Params>,
) -> Response {
    respond(state, tenant, p, true).await
}

async fn respond(state: SandboxState, tenant: String, p: Params, posted: bool) -> Response {
    let Some(sandbox) = state.sandbox.as_ref() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let css = state.css_href.as_ref();
    // `organizations`: the administrator who signs in names the tenant (Microsoft allows it
    // here too). Until one has, every tenant's administrators are offered.
    let home;
    let tenant = if is_organizations(&tenant) {
        if let Err(r) = find_multi_tenant_app(&sandbox.directory, get(&p, "client_id")) {
            return error_page(css, &r);
        }
        match sandbox.directory.home_tenant(get(&p, "username")) {
            Some(t) if posted => {
                home = t.id.clone();
                home.as_str()
            }
            // Declining needs no tenant: any one checks the redirect URI, which the app's
            // registration shares with all of them.
            _ if posted && get(&p, "decision") == "decline" => {
                match sandbox.directory.tenants.first() {
                    Some(t) => {
                        home = t.id.clone();
                        home.as_str()
                    }
                    None => return organizations_page(css, sandbox, &p),
                }
            }
            _ => return organizations_page(css, sandbox, &p),
        }
    } else {
        tenant.as_str()
    };
    let (t, app) = match find_app(&sandbox.directory, tenant, get(&p, "client_id")) {
        Ok(v) => v,
        Err(r) => return error_page(css, &r),
    };
    let redirect_uri = get(&p, "redirect_uri");
    if !app.redirect_uris.iter().any(|u| u == redirect_uri) {
        return error_page(
            css,
            &Refusal::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                50011,
                format!(
                    "The redirect URI '{redirect_uri}' specified in the request does not match \
                     the redirect URIs configured for the application '{}'.",
                    app.client_id
                ),
            ),
        );
    }
    let state_param = get(&p, "state");
    let mut problem = String::new();
    if posted {
        if get(&p, "decision") == "decline" {
            let r = Refusal::new(
                StatusCode::BAD_REQUEST,
                "access_denied",
                65004,
                "User declined to consent to access the app.",
            );
            return back(
                redirect_uri,
                &[
                    ("admin_consent", "False"),
                    ("error", "access_denied"),
                    ("error_description", &r.description()),
                    ("state", state_param),
                ],
            );
        }
        match t.user(get(&p, "username")) {
            Some(u) if u.admin => {
                sandbox.grants.consent_for_tenant(&t.id, &app.client_id);
                return back(
                    redirect_uri,
                    &[
                        ("admin_consent", "True"),
                        ("tenant", &t.id),
                        ("scope", get(&p, "scope")),
                        ("state", state_param),
                    ],
                );
            }
            _ => {
                problem = "<p class=\"alert alert-error\" role=\"alert\">This account is not an \
                           administrator of the tenant. Only a Global or Cloud Application \
                           Administrator can grant consent for the organization.</p>"
                    .into()
            }
        }
    }
    let hidden: String = ["client_id", "redirect_uri", "scope", "state"]
        .iter()
        .map(|k| {
            format!(
                "<input type=\"hidden\" name=\"{k}\" value=\"{}\">",
                esc(get(&p, k))
            )
        })
        .collect();
    let accounts: String = t
        .users
        .iter()
        .map(|u| {
            format!(
                "<label class=\"choice\"><input type=\"radio\" name=\"username\" value=\"{0}\"{1}> \
                 {2} <code>{0}</code></label>",
                esc(&u.username),
                if u.admin { " checked" } else { "" },
                esc(&u.display_name)
            )
        })
        .collect();
    let body = format!(
        "<h1>Permissions requested for your organization</h1>\
         <p><strong>{app}</strong> asks an administrator of <code>{tenant}</code> to grant it \
         <code>{scope}</code> for every user.</p>{problem}\
         <form method=\"post\" action=\"/sandbox/{tid}/v2.0/adminconsent\">{hidden}\
         <fieldset><legend>Administrator account</legend>{accounts}</fieldset>\
         <p class=\"actions\"><button class=\"button button-primary\" name=\"decision\" value=\"accept\">Accept</button> \
         <button class=\"button button-secondary\" name=\"decision\" value=\"decline\">Cancel</button></p></form>",
        app = esc(&app.display_name),
        tenant = esc(&t.domains[0]),
        scope = esc(get(&p, "scope")),
        tid = esc(&t.id),
    );
    render(StatusCode::OK, css, "Admin consent", &body)
}

/// Admin consent through `organizations`: pick the administrator, whose tenant it is for.
fn organizations_page(css: &str, sandbox: &Sandbox, p: &Params) -> Response {
    let hidden: String = ["client_id", "redirect_uri", "scope", "state"]
        .iter()
        .map(|k| {
            format!(
                "<input type=\"hidden\" name=\"{k}\" value=\"{}\">",
                esc(get(p, k))
            )
        })
        .collect();
    let admins: String = sandbox
        .directory
        .tenants
        .iter()
        .flat_map(|t| t.users.iter().filter(|u| u.admin).map(move |u| (t, u)))
        .map(|(t, u)| {
            format!(
                "<label class=\"choice\"><input type=\"radio\" name=\"username\" value=\"{0}\"> \
                 {1} <code>{0}</code> <span class=\"muted\">({2})</span></label>",
                esc(&u.username),
                esc(&u.display_name),
                esc(&t.domains[0])
            )
        })
        .collect();
    let body = format!(
        "<h1>Permissions requested for your organization</h1>\
         <p>Sign in as an administrator of the organization to grant <code>{scope}</code> for \
         every user.</p>\
         <form method=\"post\" action=\"/sandbox/{ORGANIZATIONS}/v2.0/adminconsent\">{hidden}\
         <fieldset><legend>Administrator account</legend>{admins}</fieldset>\
         <p class=\"actions\"><button class=\"button button-primary\" name=\"decision\" value=\"accept\">Accept</button> \
         <button class=\"button button-secondary\" name=\"decision\" value=\"decline\">Cancel</button></p></form>",
        scope = esc(get(p, "scope")),
    );
    render(StatusCode::OK, css, "Admin consent", &body)
}
