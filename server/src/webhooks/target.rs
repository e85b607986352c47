//! Where a webhook may be sent. The URL is the host's input, so a hosted Mailkey must not become
//! a way into its own network: `https` only, and every address the name resolves to must be
//! public, unless the operator set `allow_private_hosts` (tests, a private deployment), which
//! also allows plain `http`. The check is made by the HTTP client's resolver at connection
//! time, on the addresses it then connects to, so a name cannot be rebound in between.

use std::{net::SocketAddr, sync::Arc};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::{Host, Url};

use crate::mail_test::guard::is_public;

/// Checks a URL as given to the API: the message says what is wrong and how to fix it.
pub fn check_url(raw: &str, allow_private: bool) -> Result<Url, String> {
    let raw = raw.trim();
    let url = Url::parse(raw).map_err(|e| {
        format!("{raw:?} is not a URL ({e}); give the full address, like https://erp.example.com/hooks/mailkey")
    })?;
    match url.scheme() {
        "https" => {}
        "http" if allow_private => {}
        "http" => {
            return Err(
                "use https: webhook deliveries carry account details and must be encrypted".into(),
            )
        }
        other => {
            return Err(format!(
                "the scheme {other:?} cannot receive webhooks; use https"
            ))
        }
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(
            "leave the user name and password out of the URL: every delivery is signed with the \
             endpoint's secret instead"
                .into(),
        );
    }
    if url.fragment().is_some() {
        return Err("leave the #fragment out of the URL: it is never sent".into());
    }
    match url.host() {
        None => return Err("the URL has no host".into()),
        Some(Host::Ipv4(ip)) if !allow_private && !is_public(ip.into()) => {
            return Err(format!(
                "{ip} is not a public address; give the receiver's public name"
            ))
        }
        Some(Host::Ipv6(ip)) if !allow_private && !is_public(ip.into()) => {
            return Err(format!(
                "{ip} is not a public address; give the receiver's public name"
            ))
        }
        Some(Host::Domain(d))
            if !allow_private && (d == "localhost" || d.ends_with(".localhost")) =>
        {
            return Err(format!("{d} is this machine, not a public receiver"))
        }
        _ => {}
    }
    if raw.len() > 2000 {
        return Err("the URL is longer than 2000 characters".into());
    }
    Ok(url)
}

/// The HTTP client's resolver: the system's, with every non-public address refused (an IP
/// literal in the URL skips resolvers, so [`check_url`] refuses those at the door).
pub struct PublicOnly {
    pub allow_private: bool,
}

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if !allow_private {
                if let Some(bad) = addrs.iter().find(|a| !is_public(a.ip())) {
                    // The address stays in the log: the answer goes to API callers, who must not
                    // learn the inside network's names and addresses this way.
                    tracing::warn!(host = %host, address = %bad.ip(), "a webhook URL resolves to a non-public address");
                    return Err(format!("{host} resolves to a non-public address").into());
                }
            }
            let addrs: Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

/// The client deliveries are made with: no redirects followed (the receiver must answer
/// itself), no proxy from the environment, short timeouts.
pub fn client(allow_private: bool) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .connect_timeout(std::time::Duration::from_secs(5))
        .timeout(std::time::Duration::from_secs(15))
        .user_agent(concat!("Mailkey-Webhooks/", env!("CARGO_PKG_VERSION")))
        .dns_resolver(Arc::new(PublicOnly { allow_private }))
        .build()
        .expect("the webhook client's settings are valid")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_with_reasons() {
        assert!(check_url("https://erp.example.com/hooks", false).is_ok());
        for (bad, says) in [
            ("http://erp.example.com/hooks", "use https"),
            ("ftp://erp.example.com/", "cannot receive"),
            ("https://user:pw@erp.example.com/", "user name"),
            ("https://127.0.0.1/hooks", "not a public address"),
            ("https://[::1]/hooks", "not a public address"),
            ("https://10.1.2.3/hooks", "not a public address"),
            ("https://localhost:8080/", "this machine"),
            ("erp.example.com/hooks", "not a URL"),
            ("https://erp.example.com/#x", "fragment"),
        ] {
            let e = check_url(bad, false).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
        assert!(check_url("http://127.0.0.1:9000/hooks", true).is_ok());
    }

    #[tokio::test]
    async fn the_resolver_refuses_private_addresses() {
        let strict = PublicOnly {
            allow_private: false,
        };
        let e = strict
            .resolve("localhost".parse().unwrap())
            .await
            .err()
            .expect("localhost is refused");
        assert!(e.to_string().contains("non-public address"), "{e}");
        let open = PublicOnly {
            allow_private: true,
        };
        assert!(open.resolve("localhost".parse().unwrap()).await.is_ok());
    }
}
