//! The sandbox's own HTML pages: Mailkey's stylesheet, a banner that says this is not Microsoft,
//! and a policy that runs no script.

use axum::{
    http::{header, HeaderValue, StatusCode},
    response::{Html, IntoResponse, Response},
};

/// No script, nothing from elsewhere. No `form-action`: the sign-in form's answer redirects to
/// the app's redirect URI, which may be anywhere.
const CSP: &str =
    "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; frame-ancestors 'none'";

/// Text made safe to put in HTML, attribute values included.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

use super::protocol::Refusal;

/// Microsoft's own error page: the refusal's AADSTS description, never sent to the app.
pub fn error_page(css_href: &str, r: &Refusal) -> Response {
    render(
        r.status,
        css_href,
        "Sign-in error",
        &format!(
            "<h1>Sorry, but we're having trouble signing you in.</h1>\
             <p class=\"alert alert-error\">{}</p>",
            esc(&r.description())
        ),
    )
}

/// A whole page; `body` is HTML already escaped by the caller.
pub fn render(status: StatusCode, css_href: &str, title: &str, body: &str) -> Response {
    let page = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · Sandbox identity provider</title>\
         <link rel=\"icon\" href=\"/favicon.svg\" type=\"image/svg+xml\">\
         <link rel=\"stylesheet\" href=\"{css}\"></head><body><div class=\"app\">\
         <p class=\"alert alert-warning sandbox-banner\" role=\"note\"><strong>Sandbox identity \
         provider.</strong> This is not Microsoft: it speaks Microsoft's protocol for tests and \
         demos, and nothing here signs in to a real mailbox.</p>\
         <main class=\"main\">{body}</main></div></body></html>",
        title = esc(title),
        css = esc(css_href),
    );
    let mut res = (status, Html(page)).into_response();
    res.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    res
}
