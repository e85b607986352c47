//! Pasted authorization and token endpoints: they must be Microsoft identity platform **v2**
//! endpoints of the admin's own tenant.

use super::{identifiers::tidy, tenant::SHARED_AUTHORITIES, Check, Note};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    Authorize,
    Token,
}

impl Endpoint {
    fn segment(self) -> &'static str {
        match self {
            Endpoint::Authorize => "authorize",
            Endpoint::Token => "token",
        }
    }

    fn entra_label(self) -> &'static str {
        match self {
            Endpoint::Authorize => "OAuth 2.0 authorization endpoint (v2)",
            Endpoint::Token => "OAuth 2.0 token endpoint (v2)",
        }
    }

    fn other(self) -> Endpoint {
        match self {
            Endpoint::Authorize => Endpoint::Token,
            Endpoint::Token => Endpoint::Authorize,
        }
    }
}

/// The tenant the endpoint must belong to: what the admin entered and, once the server resolved
/// it, the tenant ID (an endpoint may name either).
pub struct ExpectedTenant<'a> {
    pub entered: &'a str,
    pub resolved_id: Option<&'a str>,
}

impl ExpectedTenant<'_> {
    fn matches(&self, segment: &str) -> bool {
        let segment = segment.to_ascii_lowercase();
        tidy(self.entered).eq_ignore_ascii_case(&segment)
            || self
                .resolved_id
                .is_some_and(|id| id.eq_ignore_ascii_case(&segment))
    }
}

pub fn check(input: &str, which: Endpoint, authority: &str, tenant: &ExpectedTenant<'_>) -> Check {
    let v = tidy(input);
    let where_to_copy = format!(
        "In Entra, open the app's Overview page, select Endpoints and copy \"{}\".",
        which.entra_label()
    );
    if v.is_empty() {
        return Some(Note::error(format!(
            "Enter the {} endpoint, or leave \"I have the endpoints\" off to have Mailkey derive it. {where_to_copy}",
            which.segment()
        )));
    }
    let authority = authority.trim_end_matches('/');
    let lower = v.to_ascii_lowercase();
    if lower.starts_with("http://") && authority.starts_with("https://") {
        return Some(Note::error(format!(
            "The endpoint must start with https://. {where_to_copy}"
        )));
    }
    let Some(path) = lower
        .strip_prefix(&authority.to_ascii_lowercase())
        .filter(|p| p.starts_with('/'))
    else {
        return Some(Note::error(format!(
            "This is not a Microsoft identity platform endpoint: it must start with {authority}/. {where_to_copy}"
        )));
    };
    if path.contains('?') || path.contains('#') {
        return Some(Note::error(format!(
            "Paste the endpoint without anything after \"?\" or \"#\". {where_to_copy}"
        )));
    }
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let tenant_segment = segments.first().copied().unwrap_or_default();
    let rest = &segments[1.min(segments.len())..];
    let wrong_kind = Some(Note::error(format!(
        "This is the {} endpoint; this field takes the {} endpoint, ending in /oauth2/v2.0/{}.",
        which.other().segment(),
        which.segment(),
        which.segment()
    )));
    match rest {
        ["oauth2", "v2.0", s] if *s == which.segment() => {}
        ["oauth2", "v2.0", s] if *s == which.other().segment() => return wrong_kind,
        ["oauth2", s] if *s == which.segment() || *s == which.other().segment() => {
            return Some(Note::error(format!(
                "This is a v1 endpoint (no /v2.0/ in the path); Mailkey's scopes need the v2 \
                 one: {authority}/{tenant_segment}/oauth2/v2.0/{}. {where_to_copy}",
                which.segment()
            )))
        }
        _ => {
            return Some(Note::error(format!(
                "This is not the {} endpoint: it should look like {authority}/<tenant>/oauth2/v2.0/{}. {where_to_copy}",
                which.segment(),
                which.segment()
            )))
        }
    }
    if SHARED_AUTHORITIES.contains(&tenant_segment) {
        return Some(Note::error(format!(
            "This endpoint uses \"{tenant_segment}\", which fails for a single-tenant app \
             (AADSTS50194). Use the endpoint with your tenant in it: \
             {authority}/{}/oauth2/v2.0/{}.",
            if tidy(tenant.entered).is_empty() {
                "<tenant>"
            } else {
                tidy(tenant.entered)
            },
            which.segment()
        )));
    }
    if !tidy(tenant.entered).is_empty() && !tenant.matches(tenant_segment) {
        return Some(Note::error(format!(
            "This endpoint belongs to tenant {tenant_segment}, but the Tenant field says {}. \
             Copy the endpoints from the same app registration, or correct the Tenant.",
            tidy(tenant.entered)
        )));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::MICROSOFT_365;

    const TID: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";

    fn msg(url: &str, which: Endpoint) -> String {
        check(
            url,
            which,
            MICROSOFT_365.authority,
            &ExpectedTenant {
                entered: "contoso.com",
                resolved_id: Some(TID),
            },
        )
        .map(|n| n.message)
        .unwrap_or_default()
    }

    #[test]
    fn v2_endpoints_of_the_tenant_pass() {
        for t in ["contoso.com", TID, "CONTOSO.com"] {
            assert_eq!(
                msg(
                    &format!("https://login.microsoftonline.com/{t}/oauth2/v2.0/authorize"),
                    Endpoint::Authorize
                ),
                ""
            );
            assert_eq!(
                msg(
                    &format!(" https://login.microsoftonline.com/{t}/oauth2/v2.0/token\n"),
                    Endpoint::Token
                ),
                ""
            );
        }
    }

    #[test]
    fn v1_endpoints_are_named() {
        assert!(msg("https://login.microsoftonline.com/contoso.com/oauth2/authorize", Endpoint::Authorize)
            .starts_with("This is a v1 endpoint (no /v2.0/ in the path); Mailkey's scopes need the v2 one: https://login.microsoftonline.com/contoso.com/oauth2/v2.0/authorize."));
        assert!(msg(
            "https://login.microsoftonline.com/contoso.com/oauth2/token",
            Endpoint::Token
        )
        .starts_with("This is a v1 endpoint"));
    }

    #[test]
    fn common_is_refused_for_single_tenant_apps() {
        assert_eq!(
            msg("https://login.microsoftonline.com/common/oauth2/v2.0/authorize", Endpoint::Authorize),
            "This endpoint uses \"common\", which fails for a single-tenant app (AADSTS50194). Use the endpoint with your tenant in it: https://login.microsoftonline.com/contoso.com/oauth2/v2.0/authorize."
        );
    }

    #[test]
    fn another_tenant_is_refused() {
        assert_eq!(
            msg("https://login.microsoftonline.com/fabrikam.com/oauth2/v2.0/token", Endpoint::Token),
            "This endpoint belongs to tenant fabrikam.com, but the Tenant field says contoso.com. Copy the endpoints from the same app registration, or correct the Tenant."
        );
    }

    #[test]
    fn swapped_foreign_and_insecure_endpoints() {
        assert_eq!(
            msg("https://login.microsoftonline.com/contoso.com/oauth2/v2.0/authorize", Endpoint::Token),
            "This is the authorize endpoint; this field takes the token endpoint, ending in /oauth2/v2.0/token."
        );
        assert!(msg("https://login.example.com/contoso.com/oauth2/v2.0/token", Endpoint::Token)
            .starts_with("This is not a Microsoft identity platform endpoint: it must start with https://login.microsoftonline.com/."));
        assert!(msg(
            "https://login.microsoftonline.com.evil.example/contoso.com/oauth2/v2.0/token",
            Endpoint::Token
        )
        .starts_with("This is not a Microsoft identity platform endpoint"));
        assert!(msg(
            "http://login.microsoftonline.com/contoso.com/oauth2/v2.0/token",
            Endpoint::Token
        )
        .starts_with("The endpoint must start with https://."));
        assert!(msg(
            "https://login.microsoftonline.com/contoso.com/oauth2/v2.0/token?x=1",
            Endpoint::Token
        )
        .starts_with("Paste the endpoint without anything after"));
        assert!(msg(
            "https://login.microsoftonline.com/contoso.com/v2.0/.well-known/openid-configuration",
            Endpoint::Token
        )
        .starts_with("This is not the token endpoint"));
        assert!(msg("", Endpoint::Token).starts_with("Enter the token endpoint"));
    }
}
