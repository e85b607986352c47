//! `GET /sandbox`: what the sandbox holds, so a newcomer can walk the wizard with it. It shows the
//! sandbox's own test secret on purpose: nothing here opens a real mailbox.

use axum::{
    extract::State,
    http::{header, HeaderValue, StatusCode},
    response::{Html, IntoResponse, Response},
};

use crate::state::AppState;

const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; \
                   form-action 'none'; frame-ancestors 'none'";

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

pub async fn show(State(state): State<AppState>) -> Response {
    let Some(sandbox) = state.sandbox.as_ref() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let mut body = String::new();
    for t in &sandbox.directory.tenants {
        body += &format!(
            "<section class=\"panel\"><h2>Tenant {}</h2><dl class=\"values\">\
             <dt>Directory (tenant) ID</dt><dd><code>{}</code></dd>\
             <dt>Domains</dt><dd>{}</dd></dl>",
            esc(&t.domains[0]),
            esc(&t.id),
            t.domains
                .iter()
                .map(|d| format!("<code>{}</code>", esc(d)))
                .collect::<Vec<_>>()
                .join(", ")
        );
        for a in &t.apps {
            body += &format!(
                "<h3>App registration “{}”</h3><dl class=\"values\">\
                 <dt>Application (client) ID</dt><dd><code>{}</code></dd>\
                 <dt>Client secret value</dt><dd><code>{}</code></dd>\
                 <dt>Secret ID (the wrong one to paste)</dt><dd><code>{}</code></dd>\
                 <dt>Secret expires</dt><dd>{}</dd>\
                 <dt>Redirect URIs (platform Web)</dt><dd>{}</dd>\
                 <dt>Admin consent granted</dt><dd>{}</dd></dl>",
                esc(&a.display_name),
                esc(&a.client_id),
                esc(&a.secret),
                esc(&a.secret_id),
                esc(&a.secret_expires),
                a.redirect_uris
                    .iter()
                    .map(|u| format!("<code>{}</code>", esc(u)))
                    .collect::<Vec<_>>()
                    .join("<br>"),
                if a.admin_consented { "yes" } else { "no" }
            );
        }
        body += "<h3>Users</h3><ul>";
        for u in &t.users {
            body += &format!(
                "<li><code>{}</code> ({})</li>",
                esc(&u.username),
                esc(&u.display_name)
            );
        }
        body += "</ul></section>";
    }
    let page = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Sandbox identity provider · Mailkey</title>\
         <link rel=\"stylesheet\" href=\"{css}\"></head><body><div class=\"app\">\
         <p class=\"alert alert-warning sandbox-banner\" role=\"note\"><strong>Sandbox identity \
         provider.</strong> This is not Microsoft: it speaks Microsoft's protocol for tests and \
         demos, and nothing here signs in to a real mailbox.</p>\
         <main class=\"main\"><h1>Sandbox identity provider</h1>\
         <p>Authority: <code>{authority}</code> (Microsoft's is \
         <code>https://login.microsoftonline.com</code>). Directory from {source}.</p>\
         <p>Until the wizard offers “Microsoft 365 (sandbox)” as a provider (it comes with \
         sign-in), point it here with <code>microsoft_authority = \"{authority}\"</code>; then \
         enter a tenant domain below and the wizard finds its tenant ID.</p>\
         {body}</main></div></body></html>",
        css = esc(&state.css_href),
        authority = esc(&sandbox.authority),
        source = esc(&sandbox.source),
    );
    let mut res = Html(page).into_response();
    res.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    res
}
