//! `GET /sandbox`: what the sandbox holds, so a newcomer can walk the wizard with it. It shows the
//! sandbox's own test secret on purpose: nothing here opens a real mailbox.

use axum::{
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
};

use super::page::{esc, render};
use super::SandboxState;

pub async fn show(State(state): State<SandboxState>) -> Response {
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
        body +=
            &format!(
            "<p>Users may consent to apps: {}. Access tokens last {} minutes; refresh tokens {} \
             minutes unused.</p><h3>Users</h3><ul>",
            if t.user_consent { "yes" } else { "no (an admin must)" },
            t.access_token_minutes,
            t.refresh_token_minutes
        );
        for u in &t.users {
            body += &format!(
                "<li><code>{}</code> ({}){}{}</li>",
                esc(&u.username),
                esc(&u.display_name),
                if u.admin { ", administrator" } else { "" },
                if u.revoked { ", sessions revoked" } else { "" }
            );
        }
        body += "</ul>";
        body += &mail_server_setup(&sandbox.authority, &t.id);
        body += "</section>";
    }
    for a in &sandbox.directory.multi_tenant_apps {
        let secrets: String = a
            .secrets
            .iter()
            .map(|x| {
                format!(
                    "<li><code>{}</code> (ID <code>{}</code>, expires {})</li>",
                    esc(&x.secret),
                    esc(&x.secret_id),
                    esc(&x.expires)
                )
            })
            .collect();
        body += &format!(
            "<section class=\"panel\"><h2>Multi-tenant app “{}”</h2>\
             <p>Usable by the users of every tenant above through the \
             <code>{authority}/organizations</code> authority, as an operator's own app is.</p>\
             <dl class=\"values\"><dt>Application (client) ID</dt><dd><code>{}</code></dd>\
             <dt>Publisher</dt><dd>{}</dd>\
             <dt>Client secrets (each valid)</dt><dd><ul>{secrets}</ul></dd>\
             <dt>Redirect URIs (platform Web)</dt><dd>{}</dd></dl></section>",
            esc(&a.display_name),
            esc(&a.client_id),
            esc(&a.publisher),
            a.redirect_uris
                .iter()
                .map(|u| format!("<code>{}</code>", esc(u)))
                .collect::<Vec<_>>()
                .join("<br>"),
            authority = esc(&sandbox.authority),
        );
    }
    let body = format!(
        "<h1>Sandbox identity provider</h1>\
         <p>Authority: <code>{authority}</code> (Microsoft's is \
         <code>https://login.microsoftonline.com</code>). Directory from {source}.</p>\
         <p>To try Mailkey with it, choose <strong>Microsoft 365 (sandbox)</strong> when you add \
         an account, enter a tenant domain below (the wizard finds its tenant ID), the client ID \
         and secret value of its app, and sign in as one of its users.</p>\
         {body}",
        authority = esc(&sandbox.authority),
        source = esc(&sandbox.source),
    );
    render(
        StatusCode::OK,
        &state.css_href,
        "Sandbox identity provider",
        &body,
    )
}

/// For a mail server of one's own (a test Dovecot) to accept the sandbox's access tokens: the
/// tenant's RFC 7662 introspection endpoint and the Dovecot settings that use it. The answer
/// carries the user as `email` (Dovecot's default `username_attribute`), `username` and `sub`.
fn mail_server_setup(authority: &str, tenant_id: &str) -> String {
    let url = format!("{authority}/{tenant_id}/oauth2/v2.0/introspect");
    format!(
        "<h3>Your own mail server</h3>\
         <p>Access tokens are checked at the introspection endpoint (RFC 7662, form POST of \
         <code>token</code>): <code>{url}</code>. An active token's answer names the user as \
         <code>email</code>, <code>username</code> and <code>sub</code>.</p>\
         <p>Dovecot 2.3, in <code>dovecot.conf</code>:</p>\
         <pre><code>auth_mechanisms = $auth_mechanisms xoauth2 oauthbearer\n\
         passdb {{\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n  \
         args = /etc/dovecot/dovecot-oauth2.conf.ext\n}}</code></pre>\
         <p>and in <code>/etc/dovecot/dovecot-oauth2.conf.ext</code>:</p>\
         <pre><code>introspection_mode = post\nintrospection_url = {url}\n\
         username_attribute = email\nactive_attribute = active\nactive_value = true</code></pre>\
         <p>Postfix authenticates through Dovecot (<code>smtpd_sasl_type = dovecot</code>).</p>",
        url = esc(&url),
    )
}
