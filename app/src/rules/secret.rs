//! The client credentials: the Application (client) ID, the client secret's value and its expiry.

use super::{
    dates::Day,
    identifiers::{is_guid, tidy},
    Check, Note,
};

pub const MSG_CLIENT_ID_REQUIRED: &str = "Enter the Application (client) ID from the app's \
    Overview page in Entra.";
pub const MSG_CLIENT_ID_SHAPE: &str = "The Application (client) ID is a GUID like \
    00000000-0000-0000-0000-000000000000 (8-4-4-4-12 letters and digits). Copy it from the app's \
    Overview page in Entra; Microsoft refuses anything else (AADSTS90112).";
pub const MSG_CLIENT_ID_IS_SECRET: &str = "This looks like a client secret value, not the \
    Application (client) ID. The client ID is the GUID on the app's Overview page; paste the \
    secret into \"Client secret value\" below.";
pub const MSG_SECRET_REQUIRED: &str = "Enter the client secret's Value from Certificates & \
    secrets in Entra. Lost it? Create a new secret there; Entra shows a value only once.";
pub const MSG_SECRET_IS_ID: &str = "This looks like the Secret ID. Copy the Value column instead \
    — Entra shows it only once.";
pub const MSG_SECRET_SPACES: &str =
    "A client secret has no spaces or line breaks inside. Copy the \
    Value again with the copy button next to it in Entra.";
pub const MSG_EXPIRY_SHAPE: &str = "Enter the date as YYYY-MM-DD, e.g. 2028-05-01. Entra shows \
    it in the Expires column under Certificates & secrets.";
pub const MSG_EXPIRY_MISSING: &str = "Add the secret's expiry date (Expires column under \
    Certificates & secrets) so Mailkey can remind you before the connection stops.";

/// Entra's secret values are ~40 characters with a `~` near the start (e.g. `Xk28Q~…`); IDs
/// never contain one.
fn looks_like_secret_value(v: &str) -> bool {
    v.len() >= 30 && v.get(..8).is_some_and(|head| head.contains('~'))
}

pub fn check_client_id(input: &str) -> Check {
    let v = tidy(input);
    if v.is_empty() {
        Some(Note::error(MSG_CLIENT_ID_REQUIRED))
    } else if is_guid(v) {
        None
    } else if looks_like_secret_value(v) {
        Some(Note::error(MSG_CLIENT_ID_IS_SECRET))
    } else {
        Some(Note::error(MSG_CLIENT_ID_SHAPE))
    }
}

/// `already_set`: a secret is stored, so an empty field means "keep it".
pub fn check_client_secret(input: &str, already_set: bool) -> Check {
    let v = tidy(input);
    if v.is_empty() {
        return (!already_set).then(|| Note::error(MSG_SECRET_REQUIRED));
    }
    if is_guid(v) {
        return Some(Note::error(MSG_SECRET_IS_ID));
    }
    if v.chars().any(char::is_whitespace) {
        return Some(Note::error(MSG_SECRET_SPACES));
    }
    None
}

/// How many days before a secret expires Mailkey starts warning.
pub const EXPIRY_WARNING_DAYS: i64 = 30;

/// Warns about a secret that has expired or expires within [`EXPIRY_WARNING_DAYS`].
pub fn check_expiry(input: &str, today: Day) -> Check {
    let v = tidy(input);
    if v.is_empty() {
        return Some(Note::warning(MSG_EXPIRY_MISSING));
    }
    let Some(day) = Day::parse(v) else {
        return Some(Note::error(MSG_EXPIRY_SHAPE));
    };
    let left = day.0 - today.0;
    if left < 0 {
        // Refused, not warned: a saved expired secret would be forgotten until the first
        // refresh fails.
        Some(Note::error(format!(
            "This secret expired on {}. Microsoft will refuse it (AADSTS7000222): create a new \
             secret under Certificates & secrets, paste its value and enter its new expiry date.",
            day.iso()
        )))
    } else if left <= EXPIRY_WARNING_DAYS {
        Some(Note::warning(format!(
            "This secret expires in {left} day{} ({}). Create a new one soon under Certificates \
             & secrets, or the connection stops that day.",
            if left == 1 { "" } else { "s" },
            day.iso()
        )))
    } else {
        None
    }
}

/// What an account's pages (the list, the account, the review) say of its own client secret's
/// expiry: an error once expired, a warning within [`EXPIRY_WARNING_DAYS`], else nothing.
pub fn saved_expiry_notice(expires: Option<&str>, today: Day) -> Option<Note> {
    let day = Day::parse(expires?.trim())?;
    let left = day.0 - today.0;
    let renew = "Create a new client secret in Entra (Certificates & secrets) and enter its \
                 value under Application details; the mailbox does not need to sign in again.";
    if left < 0 {
        Some(Note::error(format!(
            "The client secret expired on {}: Microsoft refuses it. {renew}",
            day.iso()
        )))
    } else if left <= EXPIRY_WARNING_DAYS {
        let when = match left {
            0 => "today".to_string(),
            1 => "tomorrow".to_string(),
            n => format!("in {n} days"),
        };
        Some(Note::warning(format!(
            "The client secret expires {when} ({}). {renew}",
            day.iso()
        )))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ID: &str = "8f3c2a9e-1b4d-4c6e-9a7f-2d5b8e1c0a93";
    const VALUE: &str = "Xk28Q~f1bN3pVqz9Lr.4hT7wYc_2mJd5sGe8uAoR";

    fn msg(c: Check) -> String {
        c.map(|n| n.message).unwrap_or_default()
    }

    #[test]
    fn client_id() {
        assert_eq!(check_client_id(ID), None);
        assert_eq!(check_client_id(&format!(" {ID}\n")), None);
        assert_eq!(msg(check_client_id("")), MSG_CLIENT_ID_REQUIRED);
        assert_eq!(msg(check_client_id("my-app")), MSG_CLIENT_ID_SHAPE);
        assert_eq!(msg(check_client_id(VALUE)), MSG_CLIENT_ID_IS_SECRET);
    }

    #[test]
    fn secret_id_pasted_instead_of_value() {
        assert_eq!(msg(check_client_secret(ID, false)), MSG_SECRET_IS_ID);
        assert_eq!(msg(check_client_secret(ID, true)), MSG_SECRET_IS_ID);
        assert_eq!(check_client_secret(VALUE, false), None);
        assert_eq!(msg(check_client_secret("", false)), MSG_SECRET_REQUIRED);
        assert_eq!(check_client_secret("", true), None);
        assert_eq!(
            msg(check_client_secret("abc def", false)),
            MSG_SECRET_SPACES
        );
    }

    #[test]
    fn a_saved_secrets_expiry_is_told_on_the_accounts_pages() {
        let today = Day::parse("2026-11-23").unwrap();
        assert_eq!(saved_expiry_notice(Some("2027-06-01"), today), None);
        assert_eq!(saved_expiry_notice(None, today), None);
        let soon = saved_expiry_notice(Some("2026-12-01"), today).unwrap();
        assert!(!soon.is_error());
        assert!(soon
            .message
            .starts_with("The client secret expires in 8 days (2026-12-01)."));
        let gone = saved_expiry_notice(Some("2024-03-31"), today).unwrap();
        assert!(gone.is_error());
        assert!(gone
            .message
            .starts_with("The client secret expired on 2024-03-31"));
    }

    #[test]
    fn expiry() {
        let today = Day::parse("2026-11-23").unwrap();
        assert_eq!(check_expiry("2028-05-01", today), None);
        assert_eq!(
            msg(check_expiry("2026-11-24", today)),
            "This secret expires in 1 day (2026-11-24). Create a new one soon under Certificates \
             & secrets, or the connection stops that day."
        );
        assert!(
            msg(check_expiry("2026-12-23", today)).starts_with("This secret expires in 30 days")
        );
        assert_eq!(check_expiry("2026-12-24", today), None);
        let past = check_expiry("2026-01-31", today).unwrap();
        assert_eq!(
            past.level,
            super::super::Level::Error,
            "refused, not forgotten"
        );
        assert!(past
            .message
            .starts_with("This secret expired on 2026-01-31."));
        assert_eq!(msg(check_expiry("1/5/2028", today)), MSG_EXPIRY_SHAPE);
        assert_eq!(msg(check_expiry("", today)), MSG_EXPIRY_MISSING);
    }

    proptest! {
        #[test]
        fn any_guid_is_a_client_id_and_never_a_secret(bytes in proptest::array::uniform16(any::<u8>()), upper in any::<bool>()) {
            let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            let mut guid = format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32]);
            if upper { guid = guid.to_uppercase(); }
            prop_assert_eq!(check_client_id(&guid), None);
            prop_assert_eq!(msg(check_client_secret(&guid, false)), MSG_SECRET_IS_ID);
        }

        #[test]
        fn secret_values_without_spaces_pass(v in "[A-Za-z0-9]{4}~[A-Za-z0-9._~-]{36}") {
            prop_assert_eq!(check_client_secret(&v, false), None);
            prop_assert_eq!(msg(check_client_id(&v)), MSG_CLIENT_ID_IS_SECRET);
        }
    }
}
