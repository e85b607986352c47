//! The operator's own multi-tenant app, as set on the settings page: the same credential rules
//! as a customer's app, a short display name, and how loudly its secret's expiry must be shown
//! (one secret serves every account that uses the app).

use super::{
    dates::Day,
    identifiers::tidy,
    secret::{check_client_id, check_client_secret, EXPIRY_WARNING_DAYS, MSG_EXPIRY_SHAPE},
    Check, Findings, Note,
};
use crate::operator_settings::OperatorAppInput;

/// A name customers see: one line of at most 80 characters (configuration and page alike).
pub fn is_short_label(s: &str) -> bool {
    s.chars().count() <= 80 && !s.chars().any(char::is_control)
}

/// The name and publisher customers see: optional, one short line.
pub fn check_label(input: &str, what: &str) -> Check {
    (!is_short_label(input.trim())).then(|| {
        Note::error(format!(
            "Keep the {what} to one line of at most 80 characters: customers see it on the \
             first page of the wizard."
        ))
    })
}

/// Every field of the form. `secret_set`: a secret is already stored, so an empty field keeps it.
pub fn check_operator_app(v: &OperatorAppInput, secret_set: bool) -> Findings {
    let mut f = Findings::default();
    f.add("client_id", check_client_id(&v.client_id));
    f.add("name", check_label(&v.name, "name"));
    f.add("publisher", check_label(&v.publisher, "publisher"));
    f.add(
        "client_secret",
        check_client_secret(&v.client_secret, secret_set),
    );
    let expires = tidy(&v.secret_expires);
    if !expires.is_empty() && Day::parse(expires).is_none() {
        f.add("secret_expires", Some(Note::error(MSG_EXPIRY_SHAPE)));
    }
    f
}

/// What the operator must hear about the app's secret today: an error once it has expired, a
/// warning within [`EXPIRY_WARNING_DAYS`] or when its date is unknown, nothing otherwise.
pub fn expiry_notice(app_name: &str, expires: Option<&str>, today: Day) -> Option<Note> {
    let Some(day) = expires.and_then(Day::parse) else {
        return Some(Note::warning(format!(
            "The expiry date of {app_name}'s client secret is not set, so Mailkey cannot warn \
             before it expires. Add it (the Expires column under Certificates & secrets in \
             Entra)."
        )));
    };
    let left = day.0 - today.0;
    if left < 0 {
        Some(Note::error(format!(
            "{app_name}'s client secret expired on {}. Every account that signs in with this app \
             fails to refresh (AADSTS7000222). Add a new secret in Entra (Certificates & secrets), \
             save its value here; no account needs to sign in again.",
            day.iso()
        )))
    } else if left <= EXPIRY_WARNING_DAYS {
        let when = match left {
            0 => "today".to_string(),
            1 => "tomorrow".to_string(),
            n => format!("in {n} days"),
        };
        Some(Note::warning(format!(
            "{app_name}'s client secret expires {when} ({}). Every account that signs in with \
             this app stops refreshing then. Add a new secret in Entra (Certificates & secrets), \
             save its value here, then remove the old one.",
            day.iso()
        )))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> OperatorAppInput {
        OperatorAppInput {
            client_id: "4e0f6b5d-7a8c-4d9e-9f2a-3b4c5d6e7f80".into(),
            name: "Acme ERP".into(),
            publisher: String::new(),
            client_secret: "Nw71Q~Ab2Cd3Ef4Gh5Ij6Kl7Mn8Op9Qr0St1Uv2W".into(),
            secret_expires: "2027-01-31".into(),
        }
    }

    #[test]
    fn a_complete_app_passes_and_an_empty_secret_keeps_the_stored_one() {
        assert!(check_operator_app(&input(), false).is_empty());
        let keep = OperatorAppInput {
            client_secret: String::new(),
            ..input()
        };
        assert!(check_operator_app(&keep, true).is_empty());
        assert!(check_operator_app(&keep, false)
            .get("client_secret")
            .is_some());
    }

    #[test]
    fn a_secret_id_and_a_bad_date_are_named() {
        let bad = OperatorAppInput {
            client_secret: "6a2b8d7f-9c0e-4f1a-9b4c-5d6e7f8091a2".into(),
            secret_expires: "31/01/2027".into(),
            name: "x".repeat(81),
            ..input()
        };
        let f = check_operator_app(&bad, true);
        assert!(f
            .get("client_secret")
            .unwrap()
            .message
            .contains("Secret ID"));
        assert!(f
            .get("secret_expires")
            .unwrap()
            .message
            .contains("YYYY-MM-DD"));
        assert!(f.get("name").is_some());
    }

    #[test]
    fn the_expiry_is_quiet_until_thirty_days_before() {
        let today = Day::parse("2026-11-29").unwrap();
        assert_eq!(expiry_notice("Acme", Some("2026-12-30"), today), None);
        let soon = expiry_notice("Acme", Some("2026-12-29"), today).unwrap();
        assert!(!soon.is_error());
        assert!(
            soon.message.contains("in 30 days (2026-12-29)"),
            "{}",
            soon.message
        );
        let past = expiry_notice("Acme", Some("2026-11-28"), today).unwrap();
        assert!(past.is_error() && past.message.contains("7000222"));
        assert!(expiry_notice("Acme", None, today).is_some());
    }
}
