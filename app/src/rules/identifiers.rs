//! Shapes of identifiers: GUIDs, domain names, host names.

/// A GUID as Entra shows them: 8-4-4-4-12 hexadecimal digits.
pub fn is_guid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, len)| g.len() == len && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// A DNS host name: dot-separated labels of letters, digits and inner hyphens, 253 characters at
/// most. `needs_dot` asks for at least two labels (a domain someone registered).
pub fn is_host_name(s: &str, needs_dot: bool) -> bool {
    let s = s.strip_suffix('.').unwrap_or(s);
    if s.is_empty() || s.len() > 253 {
        return false;
    }
    let labels: Vec<&str> = s.split('.').collect();
    if needs_dot && labels.len() < 2 {
        return false;
    }
    let last = labels.last().copied().unwrap_or_default();
    // A top-level domain is never all digits; this also keeps IP addresses out.
    if last.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    labels.iter().all(|l| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    })
}

/// An IP address as a mail server may be given: `192.0.2.10`, `2001:db8::1` or `[2001:db8::1]`.
pub fn is_ip_literal(s: &str) -> bool {
    let inner = s
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or(s);
    inner.parse::<std::net::IpAddr>().is_ok()
}

/// A value pasted from a web page often carries spaces or line breaks at either end.
pub fn tidy(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_whitespace() || c == '\u{200b}' || c == '\u{feff}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guids() {
        assert!(is_guid("8f3c2a9e-1b4d-4c6e-9a7f-2d5b8e1c0a93"));
        assert!(is_guid("8F3C2A9E-1B4D-4C6E-9A7F-2D5B8E1C0A93"));
        assert!(!is_guid("8f3c2a9e1b4d4c6e9a7f2d5b8e1c0a93"));
        assert!(!is_guid("{8f3c2a9e-1b4d-4c6e-9a7f-2d5b8e1c0a93}"));
        assert!(!is_guid("8f3c2a9e-1b4d-4c6e-9a7f-2d5b8e1c0a9"));
        assert!(!is_guid("8f3c2a9e-1b4d-4c6e-9a7f-2d5b8e1c0a9g"));
        assert!(!is_guid(""));
    }

    #[test]
    fn host_names() {
        assert!(is_host_name("contoso.onmicrosoft.com", true));
        assert!(is_host_name("smtp.office365.com", true));
        assert!(is_host_name("localhost", false));
        assert!(!is_host_name("localhost", true));
        assert!(!is_host_name("127.0.0.1", false));
        assert!(!is_host_name("-bad.example.com", true));
        assert!(!is_host_name("bad..example.com", true));
        assert!(!is_host_name("user@example.com", true));
        assert!(!is_host_name(&format!("{}.com", "a".repeat(64)), true));
    }

    #[test]
    fn tidy_strips_paste_debris() {
        assert_eq!(tidy("  abc\u{200b}\n"), "abc");
    }
}
