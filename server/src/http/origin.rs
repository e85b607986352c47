//! Cross-site request forgery guard: a request that changes state must come from Mailkey's own
//! pages. Browsers send `Origin` on every POST/PUT/PATCH/DELETE, so a mismatch is refused; a
//! request without one did not come from a browser page (curl, a host application's backend) and
//! carries no ambient cookie risk unless `Sec-Fetch-Site` says it is cross-site.

use axum::{
    extract::{Request, State},
    http::{header, HeaderMap, Method},
    middleware::Next,
    response::{IntoResponse, Response},
};
use url::Url;

use super::error::HttpError;

#[derive(Clone, Debug)]
pub struct OriginPolicy {
    /// `scheme://host[:port]` of the public URL.
    pub expected: String,
    /// When the public URL was not configured, it is a guess from the listen address; then an
    /// Origin naming the very host the request was sent to is also accepted (e.g. `localhost`
    /// for `127.0.0.1`). An attacker's page cannot choose the Host header its request carries.
    pub accept_matching_host: bool,
}

impl OriginPolicy {
    pub fn new(public_url: &Url, configured: bool) -> OriginPolicy {
        OriginPolicy {
            expected: public_url.origin().ascii_serialization(),
            accept_matching_host: !configured,
        }
    }

    /// Whether a request with these headers may change state.
    pub fn allows(&self, headers: &HeaderMap) -> Result<(), String> {
        match headers
            .get(header::ORIGIN)
            .map(|v| v.to_str().unwrap_or("(not text)"))
        {
            Some(origin) => {
                if origin == self.expected {
                    return Ok(());
                }
                if self.accept_matching_host {
                    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
                    if let (Some(host), Some(rest)) = (host, origin.strip_prefix("http://")) {
                        if rest == host {
                            return Ok(());
                        }
                    }
                }
                Err(origin.to_string())
            }
            None => match headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
                Some("cross-site") | Some("same-site") => Err("(another site)".into()),
                _ => Ok(()),
            },
        }
    }
}

pub async fn check(State(policy): State<OriginPolicy>, req: Request, next: Next) -> Response {
    let changes_state = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if changes_state {
        if let Err(origin) = policy.allows(req.headers()) {
            tracing::warn!(%origin, path = req.uri().path(), "refused a cross-origin request");
            return HttpError::CrossOrigin {
                origin,
                expected: policy.expected.clone(),
            }
            .into_response();
        }
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn configured_origin_only() {
        let p = OriginPolicy::new(&Url::parse("https://mk.example.com").unwrap(), true);
        assert!(p
            .allows(&headers(&[("origin", "https://mk.example.com")]))
            .is_ok());
        assert!(p
            .allows(&headers(&[("origin", "https://evil.example")]))
            .is_err());
        assert!(p.allows(&headers(&[("origin", "null")])).is_err());
        assert!(p
            .allows(&headers(&[
                ("origin", "http://mk.example.com"),
                ("host", "mk.example.com")
            ]))
            .is_err());
    }

    #[test]
    fn guessed_public_url_accepts_the_requested_host() {
        let p = OriginPolicy::new(&Url::parse("http://127.0.0.1:3000").unwrap(), false);
        assert!(p
            .allows(&headers(&[
                ("origin", "http://localhost:3000"),
                ("host", "localhost:3000")
            ]))
            .is_ok());
        assert!(p
            .allows(&headers(&[
                ("origin", "http://evil.example"),
                ("host", "localhost:3000")
            ]))
            .is_err());
    }

    #[test]
    fn no_origin_is_judged_by_fetch_metadata() {
        let p = OriginPolicy::new(&Url::parse("http://127.0.0.1:3000").unwrap(), true);
        assert!(p.allows(&headers(&[])).is_ok());
        assert!(p
            .allows(&headers(&[("sec-fetch-site", "same-origin")]))
            .is_ok());
        assert!(p
            .allows(&headers(&[("sec-fetch-site", "cross-site")]))
            .is_err());
    }
}
