//! Headers every response carries. Pages rendered by Leptos set their own Content-Security-Policy
//! (it holds the per-response nonce of the hydration script); everything else gets the strictest
//! policy, since it runs no script at all.

use axum::{
    extract::{Request, State},
    http::{header, HeaderName, HeaderValue},
    middleware::Next,
    response::Response,
};

/// For responses that render no page (JSON, assets, redirects).
const LOCKED_DOWN_CSP: &str =
    "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// The policy of a server-rendered page: only scripts carrying this response's nonce run, and
/// they may load further modules ('strict-dynamic') and compile WebAssembly; no inline styles,
/// no third-party anything, and no framing.
pub fn page_csp(nonce: &str) -> String {
    framed_page_csp(nonce, &[])
}

/// As [`page_csp`], framed only by these origins (an embedded wizard's session's; checked,
/// normalised origins, so nothing here can add a directive).
pub fn framed_page_csp(nonce: &str, ancestors: &[String]) -> String {
    // Only serialised origins reach here (`connect::origins`); anything else frames nothing.
    let safe = |o: &&String| {
        o.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '/' | '.' | '-' | '[' | ']'))
    };
    let listed: Vec<&str> = ancestors.iter().filter(safe).map(String::as_str).collect();
    let ancestors = if listed.is_empty() {
        "'none'".to_string()
    } else {
        listed.join(" ")
    };
    format!(
        "default-src 'self'; script-src 'nonce-{nonce}' 'strict-dynamic' 'wasm-unsafe-eval'; \
         style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; \
         object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors {ancestors}"
    )
}

/// The embedding script, loaded by hosts' pages from their own origin.
pub const EMBED_SCRIPT: &str = "/embed.js";

#[derive(Clone, Copy, Debug)]
pub struct SecurityHeaders {
    /// Only over https: HSTS on plain http would be ignored at best and confusing at worst.
    pub hsts: bool,
}

pub async fn apply(State(cfg): State<SecurityHeaders>, req: Request, next: Next) -> Response {
    let embed_script = req.uri().path() == EMBED_SCRIPT;
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(LOCKED_DOWN_CSP));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // The old header for old browsers, unless the page may be framed by its session's origins
    // (X-Frame-Options cannot list them; `frame-ancestors` does).
    let framing_allowed = h
        .get(header::CONTENT_SECURITY_POLICY)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|csp| !csp.contains("frame-ancestors 'none'"));
    if !framing_allowed {
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    // `same-origin` keeps full referrers inside Mailkey and sends none elsewhere. (`no-referrer`
    // would also blank the Origin header of same-origin form posts, which the Origin check needs.)
    h.entry(header::REFERRER_POLICY)
        .or_insert(HeaderValue::from_static("same-origin"));
    h.insert(
        HeaderName::from_static("permissions-policy"),
        HeaderValue::from_static("camera=(), microphone=(), geolocation=(), payment=()"),
    );
    // Only the embedding script may be loaded by other sites' pages.
    h.insert(
        HeaderName::from_static("cross-origin-resource-policy"),
        HeaderValue::from_static(if embed_script {
            "cross-origin"
        } else {
            "same-origin"
        }),
    );
    if cfg.hsts {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=63072000; includeSubDomains"),
        );
    }
    // Pages and API answers are per-operator: no shared cache may keep them. Static assets set
    // their own caching.
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    res
}
