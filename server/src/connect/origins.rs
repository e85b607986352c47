//! Parent origins as hosts give them: `https://erp.example.com` (a scheme, a host and a port,
//! nothing else), compared in their serialised form, which is what a browser reports as
//! `MessageEvent.origin` and what `frame-ancestors` lists.

use url::Url;

/// The origin `raw` names, normalised; the message says what is wrong and how to fix it.
/// Plain `http` only for this machine (`localhost`, loopback addresses) or where private hosts
/// are allowed (tests).
pub fn parse(raw: &str, allow_http: bool) -> Result<String, String> {
    let raw = raw.trim();
    let url = Url::parse(raw).map_err(|_| {
        format!("{raw:?} is not an origin; give the scheme and host, like https://erp.example.com")
    })?;
    let origin = url.origin();
    if !origin.is_tuple() {
        return Err(format!("{raw:?} is not an origin a page can have"));
    }
    let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    match url.scheme() {
        "https" => {}
        "http" if allow_http || loopback => {}
        "http" => {
            return Err(format!(
                "{raw:?} is plain http: the page that frames Mailkey must be served over https"
            ))
        }
        s => {
            return Err(format!(
                "{raw:?}: the scheme {s:?} cannot frame a page; use https"
            ))
        }
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "{raw:?} has a path: an origin is only the scheme, host and port (like https://erp.example.com)"
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("{raw:?} has a user name: an origin has none"));
    }
    // A host name of letters, digits, hyphens and dots, or an IP address: the origin goes into
    // a Content-Security-Policy, where `*` would allow every site and `;` would end the
    // directive (the URL parser lets both through in a host).
    if let Some(url::Host::Domain(d)) = url.host() {
        let plain = d
            .split('.')
            .all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
        if !plain {
            return Err(format!(
                "{raw:?}: a host name has only letters, digits, hyphens and dots (no wildcards); \
                 list each origin"
            ));
        }
    }
    Ok(origin.ascii_serialization())
}

/// Parses every origin: all of them, or every refusal (one per line).
pub fn parse_all(raw: &[String], allow_http: bool) -> Result<Vec<String>, String> {
    let mut ok = Vec::new();
    let mut refused = Vec::new();
    for r in raw {
        match parse(r, allow_http) {
            Ok(o) => ok.push(o),
            Err(e) => refused.push(e),
        }
    }
    if !refused.is_empty() {
        return Err(refused.join("; "));
    }
    ok.sort();
    ok.dedup();
    Ok(ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_normalised_and_checked() {
        assert_eq!(
            parse("https://ERP.example.com", false).unwrap(),
            "https://erp.example.com"
        );
        assert_eq!(
            parse("https://erp.example.com:443/", false).unwrap(),
            "https://erp.example.com"
        );
        assert_eq!(
            parse("https://erp.example.com:8443", false).unwrap(),
            "https://erp.example.com:8443"
        );
        assert_eq!(
            parse("http://localhost:3000", false).unwrap(),
            "http://localhost:3000"
        );
        for (bad, says) in [
            ("erp.example.com", "not an origin"),
            ("http://erp.example.com", "plain http"),
            ("https://erp.example.com/settings", "has a path"),
            ("https://erp.example.com/?a=1", "has a path"),
            ("javascript:alert(1)", "not an origin"),
            ("https://u@erp.example.com", "user name"),
            ("https://*", "no wildcards"),
            ("https://*.erp.example.com", "no wildcards"),
            ("https://a.com;sandbox", "no wildcards"),
        ] {
            let e = parse(bad, false).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
        assert_eq!(
            parse("http://erp.test:8080", true).unwrap(),
            "http://erp.test:8080"
        );
    }
}
