//! OAuth scopes: one resource per request, mail-server scopes (not Graph's), and
//! `offline_access` so Microsoft issues a refresh token.

use super::{identifiers::tidy, Check, Note};
use crate::provider::{Protocol, Provider, OIDC_SCOPES};

pub const MSG_REQUIRED: &str = "Enter the scopes, separated by spaces. Use \"Reset to \
    defaults\" for the usual IMAP and SMTP scopes.";
pub const MSG_NO_OFFLINE: &str = "Without offline_access Microsoft issues no refresh token: the \
    connection would stop after about an hour. Add offline_access.";

/// The resource a scope belongs to; `None` for OpenID Connect scopes. A scope without a resource
/// prefix (e.g. `Mail.Send`) means Microsoft Graph.
fn resource_of<'a>(scope: &'a str, provider: &'a Provider) -> Option<&'a str> {
    if OIDC_SCOPES.contains(&scope) {
        return None;
    }
    match scope.rfind('/') {
        Some(i) if scope.contains("://") => Some(&scope[..i]),
        _ => Some(provider.graph_resource),
    }
}

pub fn check(input: &str, provider: &Provider, protocol: Protocol) -> Check {
    let scopes: Vec<&str> = tidy(input).split_whitespace().collect();
    if scopes.is_empty() {
        return Some(Note::error(MSG_REQUIRED));
    }
    let mut resources: Vec<&str> = scopes
        .iter()
        .filter_map(|s| resource_of(s, provider))
        .map(|r| r.trim_end_matches('/'))
        .collect();
    resources.sort_unstable_by_key(|r| r.to_ascii_lowercase());
    resources.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
    if resources.len() > 1 {
        return Some(Note::error(format!(
            "These scopes belong to {} different resources ({}); Microsoft refuses that in one \
             request (AADSTS700022). Keep only {} scopes for mail.",
            resources.len(),
            resources.join(", "),
            provider.mail_resource
        )));
    }
    let graph = resources
        .first()
        .is_some_and(|r| r.eq_ignore_ascii_case(provider.graph_resource));
    if graph {
        return Some(Note::warning(format!(
            "These are Microsoft Graph scopes: their tokens are refused by the IMAP and SMTP \
             servers. Use {0}/IMAP.AccessAsUser.All and {0}/SMTP.Send instead.",
            provider.mail_resource
        )));
    }
    if !scopes.contains(&"offline_access") {
        return Some(Note::warning(MSG_NO_OFFLINE));
    }
    let has = |name: &str| {
        scopes
            .iter()
            .any(|s| s.eq_ignore_ascii_case(&format!("{}/{name}", provider.mail_resource)))
    };
    let read = match protocol {
        Protocol::Imap => "IMAP.AccessAsUser.All",
        Protocol::Pop => "POP.AccessAsUser.All",
    };
    let missing: Vec<&str> = [read, "SMTP.Send"]
        .into_iter()
        .filter(|s| !has(s))
        .collect();
    (!missing.is_empty()).then(|| {
        Note::warning(format!(
            "Missing {}: without it the mailbox cannot {}. Add {}.",
            missing.join(" and "),
            if missing.len() == 2 {
                "read or send mail"
            } else if missing[0] == "SMTP.Send" {
                "send mail"
            } else {
                "read mail"
            },
            missing
                .iter()
                .map(|m| format!("{}/{m}", provider.mail_resource))
                .collect::<Vec<_>>()
                .join(" and ")
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{provider::MICROSOFT_365, rules::Level};

    fn note(s: &str) -> Option<Note> {
        check(s, &MICROSOFT_365, Protocol::Imap)
    }

    #[test]
    fn the_default_passes() {
        assert_eq!(note(&MICROSOFT_365.default_scopes(Protocol::Imap)), None);
        assert_eq!(
            check(
                &MICROSOFT_365.default_scopes(Protocol::Pop),
                &MICROSOFT_365,
                Protocol::Pop
            ),
            None
        );
    }

    #[test]
    fn each_mistake_has_its_message() {
        assert_eq!(note("  ").unwrap().message, MSG_REQUIRED);
        let no_offline = note("https://outlook.office.com/IMAP.AccessAsUser.All https://outlook.office.com/SMTP.Send openid").unwrap();
        assert_eq!(
            (no_offline.level, no_offline.message.as_str()),
            (Level::Warning, MSG_NO_OFFLINE)
        );
        let graph = note("Mail.Send IMAP.AccessAsUser.All offline_access").unwrap();
        assert_eq!(graph.level, Level::Warning);
        assert!(graph
            .message
            .starts_with("These are Microsoft Graph scopes"));
        let two = note("https://outlook.office.com/SMTP.Send https://graph.microsoft.com/Mail.Send offline_access").unwrap();
        assert_eq!(two.level, Level::Error);
        assert_eq!(two.message, "These scopes belong to 2 different resources (https://graph.microsoft.com, https://outlook.office.com); Microsoft refuses that in one request (AADSTS700022). Keep only https://outlook.office.com scopes for mail.");
        assert_eq!(
            note("https://outlook.office.com/IMAP.AccessAsUser.All offline_access").unwrap().message,
            "Missing SMTP.Send: without it the mailbox cannot send mail. Add https://outlook.office.com/SMTP.Send."
        );
    }
}
