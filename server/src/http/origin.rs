//! Which requests are Mailkey's own. Without a configured public URL, a request must name this
//! instance as its `Host` (against DNS rebinding). A request that changes state must come from
//! Mailkey's own pages (against cross-site request forgery). Browsers send `Origin` on every POST/PUT/PATCH/DELETE, so a mismatch is refused; a
//! request without one did not come from a browser page (curl, a host application's backend) and
//! carries no ambient cookie risk unless `Sec-Fetch-Site` says it is cross-site.

use std::net::{IpAddr, SocketAddr};

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
    /// `scheme://host[:port]` of the public URL (shared: every request clones the policy).
    pub expected: std::sync::Arc<str>,
    /// Set when the public URL was not configured (it is then a guess from the listen address):
    /// the names this instance answers to. A page of another site that rebinds its own DNS
    /// name to Mailkey's address still sends its own name as `Host`, so only the listen
    /// address and the `localhost` forms of the port are accepted, as `Host` and as `Origin`.
    local: Option<LocalNames>,
}

#[derive(Clone, Debug)]
struct LocalNames {
    /// The listen address's IP; `None` when listening on every interface (then any IP
    /// literal: a rebinding page never sends one).
    ip: Option<IpAddr>,
}

impl LocalNames {
    /// Whether `host` (a `Host` header value, `name[:port]`) names this instance. The port is
    /// not compared: a forwarded port (`docker -p 8080:3000`, `ssh -L`) names another one, and a
    /// rebinding page can send neither `localhost` nor an IP literal.
    fn accepts(&self, host: &str) -> bool {
        let Ok(url) = Url::parse(&format!("http://{host}/")) else {
            return false;
        };
        match url.host() {
            Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            Some(url::Host::Ipv4(ip)) => self.accepts_ip(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => self.accepts_ip(IpAddr::V6(ip)),
            None => false,
        }
    }

    fn accepts_ip(&self, ip: IpAddr) -> bool {
        ip.is_loopback() || self.ip.is_none_or(|own| own == ip)
    }
}

impl OriginPolicy {
    pub fn new(public_url: &Url, configured: bool, bound: SocketAddr) -> OriginPolicy {
        OriginPolicy {
            expected: public_url.origin().ascii_serialization().into(),
            local: (!configured).then(|| LocalNames {
                ip: (!bound.ip().is_unspecified()).then_some(bound.ip()),
            }),
        }
    }

    /// Whether a request names this instance as its `Host`. With a configured public URL the
    /// reverse proxy in front decides which names reach Mailkey, so any is taken.
    pub fn host_allowed(&self, headers: &HeaderMap) -> Result<(), String> {
        let Some(local) = &self.local else {
            return Ok(());
        };
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        if local.accepts(host) {
            Ok(())
        } else {
            Err(host.to_string())
        }
    }

    /// Whether a request with these headers may change state.
    pub fn allows(&self, headers: &HeaderMap) -> Result<(), String> {
        match headers
            .get(header::ORIGIN)
            .map(|v| v.to_str().unwrap_or("(not text)"))
        {
            Some(origin) => {
                if origin == &*self.expected {
                    return Ok(());
                }
                if let Some(local) = &self.local {
                    if let Some(rest) = origin.strip_prefix("http://") {
                        if local.accepts(rest) {
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

/// Health checks come from load balancers and orchestrators under whatever name they use.
fn is_health_check(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz")
}

pub async fn check(State(policy): State<OriginPolicy>, req: Request, next: Next) -> Response {
    if !is_health_check(req.uri().path()) {
        if let Err(host) = policy.host_allowed(req.headers()) {
            tracing::warn!(%host, path = %super::loggable_path(req.uri().path()), "refused a request for another host name");
            return HttpError::ForeignHost {
                host,
                expected: policy.expected.to_string(),
            }
            .into_response();
        }
    }
    let changes_state = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if changes_state {
        if let Err(origin) = policy.allows(req.headers()) {
            tracing::warn!(%origin, path = %super::loggable_path(req.uri().path()), "refused a cross-origin request");
            return HttpError::CrossOrigin {
                origin,
                expected: policy.expected.to_string(),
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

    fn bound() -> SocketAddr {
        "127.0.0.1:3000".parse().unwrap()
    }

    #[test]
    fn configured_origin_only() {
        let p = OriginPolicy::new(
            &Url::parse("https://mk.example.com").unwrap(),
            true,
            bound(),
        );
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
        // Behind a proxy, the proxy decides which names reach Mailkey.
        assert!(p
            .host_allowed(&headers(&[("host", "10.0.0.7:3000")]))
            .is_ok());
    }

    #[test]
    fn guessed_public_url_accepts_only_its_own_names() {
        let p = OriginPolicy::new(
            &Url::parse("http://127.0.0.1:3000").unwrap(),
            false,
            bound(),
        );
        for own in [
            "localhost:3000",
            "127.0.0.1:3000",
            "[::1]:3000",
            "LOCALHOST:3000",
        ] {
            let origin = format!("http://{own}");
            let h = {
                let mut h = HeaderMap::new();
                h.insert("origin", origin.parse().unwrap());
                h.insert("host", own.parse().unwrap());
                h
            };
            assert!(p.allows(&h).is_ok(), "{own}");
            assert!(p.host_allowed(&h).is_ok(), "{own}");
        }
        // DNS rebinding: the attacker's name resolves to 127.0.0.1, and the browser sends that
        // name as Host and Origin, both of which matched each other before.
        let rebound = headers(&[
            ("origin", "http://rebind.evil.example:3000"),
            ("host", "rebind.evil.example:3000"),
        ]);
        assert!(p.allows(&rebound).is_err());
        assert!(p.host_allowed(&rebound).is_err());
        // A forwarded port (docker -p 8080:3000, ssh -L) still names this instance.
        assert!(p
            .host_allowed(&headers(&[("host", "localhost:8080")]))
            .is_ok());
        assert!(p
            .host_allowed(&headers(&[("host", "10.1.2.3:3000")]))
            .is_err());
        assert!(p.host_allowed(&headers(&[])).is_err());
        assert!(p
            .allows(&headers(&[
                ("origin", "http://evil.example"),
                ("host", "localhost:3000")
            ]))
            .is_err());
    }

    #[test]
    fn on_every_interface_any_address_of_the_machine_but_no_name() {
        let all: SocketAddr = "0.0.0.0:3000".parse().unwrap();
        let p = OriginPolicy::new(&Url::parse("http://0.0.0.0:3000").unwrap(), false, all);
        assert!(p
            .host_allowed(&headers(&[("host", "192.168.1.20:3000")]))
            .is_ok());
        assert!(p
            .host_allowed(&headers(&[("host", "mk.evil.example:3000")]))
            .is_err());
    }

    #[test]
    fn no_origin_is_judged_by_fetch_metadata() {
        let p = OriginPolicy::new(&Url::parse("http://127.0.0.1:3000").unwrap(), true, bound());
        assert!(p.allows(&headers(&[])).is_ok());
        assert!(p
            .allows(&headers(&[("sec-fetch-site", "same-origin")]))
            .is_ok());
        assert!(p
            .allows(&headers(&[("sec-fetch-site", "cross-site")]))
            .is_err());
    }
}
