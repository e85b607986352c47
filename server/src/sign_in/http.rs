//! The HTTP client of every token request: no redirects followed (a token endpoint that redirects
//! is refused, so credentials never travel on), connect and total timeouts, and a cap on the
//! answer's size. Server errors (5xx) are failures of their own, so refreshes can retry them, and
//! so is 429: Microsoft asking to wait, with the `Retry-After` it gave.

use std::time::Duration;

use oauth2::{HttpRequest, HttpResponse};

/// Token answers are a few kilobytes; anything larger is not one.
const MAX_BODY: usize = 256 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum HttpFailure {
    #[error("the token endpoint did not answer in time")]
    Timeout,
    #[error("the token endpoint cannot be reached")]
    Unreachable,
    #[error("the token endpoint answered with a server error (HTTP {status})")]
    ServerError {
        status: u16,
        /// `Retry-After`, in seconds, when the server gave one.
        retry_after: Option<u64>,
    },
    #[error("the token endpoint asked Mailkey to slow down (HTTP 429)")]
    RateLimited { retry_after: Option<u64> },
    #[error("the token endpoint answered with a redirect, which Mailkey does not follow")]
    Redirected,
    #[error("the token endpoint's answer is larger than a token answer can be")]
    TooLarge,
}

impl HttpFailure {
    /// Worth trying again shortly: the request may not have reached Microsoft at all.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            HttpFailure::Timeout | HttpFailure::Unreachable | HttpFailure::ServerError { .. }
        )
    }

    /// How long the server asked Mailkey to wait before the next request, if it did.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            HttpFailure::RateLimited { retry_after } => *retry_after,
            HttpFailure::ServerError { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

#[derive(Clone, Debug)]
pub struct OAuthHttp {
    client: reqwest::Client,
}

impl OAuthHttp {
    pub fn new(timeout: Duration) -> OAuthHttp {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(timeout)
            .timeout(timeout)
            .user_agent(concat!("Mailkey/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the HTTP client's fixed settings are valid");
        OAuthHttp { client }
    }

    pub async fn send(&self, request: HttpRequest) -> Result<HttpResponse, HttpFailure> {
        let (parts, body) = request.into_parts();
        let mut res = self
            .client
            .request(parts.method, parts.uri.to_string())
            .headers(parts.headers)
            .body(body)
            .send()
            .await
            .map_err(classify)?;
        let status = res.status();
        if status.is_redirection() {
            return Err(HttpFailure::Redirected);
        }
        let retry_after = retry_after(res.headers());
        if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            return Err(HttpFailure::RateLimited { retry_after });
        }
        if status.is_server_error() {
            return Err(HttpFailure::ServerError {
                status: status.as_u16(),
                retry_after,
            });
        }
        let mut builder = oauth2::http::Response::builder().status(status);
        for (k, v) in res.headers() {
            builder = builder.header(k, v);
        }
        let mut body = Vec::new();
        while let Some(chunk) = res.chunk().await.map_err(classify)? {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(HttpFailure::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        builder.body(body).map_err(|_| HttpFailure::Unreachable)
    }
}

/// `Retry-After` as delta-seconds (what Microsoft sends). An HTTP date is not parsed: the
/// caller's default wait applies.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<u64> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn classify(e: reqwest::Error) -> HttpFailure {
    if e.is_timeout() {
        HttpFailure::Timeout
    } else {
        HttpFailure::Unreachable
    }
}
