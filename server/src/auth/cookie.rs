//! The operator session cookie.

use axum::http::{header, HeaderMap, HeaderValue};

/// Over https the cookie carries the `__Host-` prefix: browsers then insist on `Secure`, `Path=/`
/// and no `Domain`, so no sibling subdomain can plant or overwrite it.
pub fn name(secure: bool) -> &'static str {
    if secure {
        "__Host-mailkey_session"
    } else {
        "mailkey_session"
    }
}

pub fn set(value: &str, secure: bool, max_age_secs: i64) -> HeaderValue {
    let secure_attr = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{}={value}; Path=/; Max-Age={max_age_secs}; HttpOnly; SameSite=Lax{secure_attr}",
        name(secure)
    ))
    .expect("token and attributes are header-safe ASCII")
}

pub fn clear(secure: bool) -> HeaderValue {
    let secure_attr = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax{secure_attr}",
        name(secure)
    ))
    .expect("attributes are header-safe ASCII")
}

/// The session cookie's value from a request's `Cookie` headers, if present.
pub fn read(headers: &HeaderMap, secure: bool) -> Option<String> {
    let wanted = name(secure);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == wanted)
        .map(|(_, v)| v.to_string())
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_follow_the_scheme() {
        let plain = set("abc", false, 60);
        assert_eq!(
            plain.to_str().unwrap(),
            "mailkey_session=abc; Path=/; Max-Age=60; HttpOnly; SameSite=Lax"
        );
        let secure = set("abc", true, 60);
        assert_eq!(
            secure.to_str().unwrap(),
            "__Host-mailkey_session=abc; Path=/; Max-Age=60; HttpOnly; SameSite=Lax; Secure"
        );
    }

    #[test]
    fn reads_the_session_among_other_cookies() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; mailkey_session=xyz; b=2"),
        );
        assert_eq!(read(&h, false).as_deref(), Some("xyz"));
        assert_eq!(read(&h, true), None);
        let mut empty = HeaderMap::new();
        empty.append(header::COOKIE, HeaderValue::from_static("mailkey_session="));
        assert_eq!(read(&empty, false), None);
    }
}
