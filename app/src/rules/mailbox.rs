//! The mailbox: names, addresses, mail servers, ports and their encryption.

use super::{
    identifiers::{is_host_name, is_ip_literal, tidy},
    Check, Note,
};
use crate::provider::{Protocol, Security};

pub const MSG_EMAIL_REQUIRED: &str = "Enter the mailbox's e-mail address, e.g. \
    invoices@contoso.com. It must be a licensed user mailbox, not a distribution group.";
pub const MSG_ROOT_FOLDER_REQUIRED: &str = "Enter the folder to read, usually INBOX.";
pub const MSG_TIMEOUT: &str = "Enter the connection timeout in whole minutes, from 1 to 30 \
    (3 is a good default).";

/// `name@domain`, checked as far as a form can: one `@`, a sensible local part and a real-looking
/// domain. `what` names the field in the message ("e-mail address", "reply address").
pub fn check_email(input: &str, what: &str, required: bool) -> Check {
    let v = tidy(input);
    if v.is_empty() {
        return required.then(|| Note::error(MSG_EMAIL_REQUIRED));
    }
    if v.contains(char::is_whitespace) {
        return Some(Note::error(format!(
            "The {what} cannot contain spaces. Enter one address, e.g. invoices@contoso.com."
        )));
    }
    let Some((local, domain)) = v.rsplit_once('@') else {
        return Some(Note::error(format!(
            "The {what} needs an @ and a domain, e.g. invoices@contoso.com."
        )));
    };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c));
    if !local_ok {
        return Some(Note::error(format!(
            "The part before the @ in the {what} has characters a mailbox name cannot have. \
             Copy the address from the Microsoft 365 admin center."
        )));
    }
    if !is_host_name(domain, true) {
        return Some(Note::error(format!(
            "\"{domain}\" is not a mail domain. The {what} should end in your domain, e.g. \
             @contoso.com or @contoso.onmicrosoft.com."
        )));
    }
    None
}

pub fn check_required_text(input: &str, message: &str) -> Check {
    tidy(input).is_empty().then(|| Note::error(message))
}

/// A mail server's host name; warns when it is not the provider's usual host.
pub fn check_host(input: &str, what: &str, usual: &str) -> Check {
    let v = tidy(input).to_ascii_lowercase();
    if v.is_empty() {
        return Some(Note::error(format!(
            "Enter the {what}. For Microsoft 365 it is {usual}."
        )));
    }
    if is_ip_literal(&v) {
        // Accepted; the connection test still refuses private addresses unless allowed.
        return Some(Note::warning(format!(
            "{v} is an IP address. It works only if the server's certificate is issued for this \
             address; a host name is safer (Microsoft 365: {usual})."
        )));
    }
    if !is_host_name(&v, false) {
        return Some(Note::error(format!(
            "Enter only the server's name or IP address, e.g. {usual}: no https://, port or path."
        )));
    }
    (v != usual).then(|| {
        Note::warning(format!(
            "Microsoft 365 mailboxes use {usual}. Keep {v} only if your administrator gave it to you."
        ))
    })
}

pub fn parse_port(input: &str) -> Option<u16> {
    tidy(input).parse::<u16>().ok().filter(|p| *p > 0)
}

/// Where a port number says one encryption and the choice says the other.
pub fn check_port(input: &str, security: Security, service: Service) -> Check {
    let Some(port) = parse_port(input) else {
        return Some(Note::error(format!(
            "Enter a port number from 1 to 65535. For Microsoft 365 {} uses {}.",
            service.name(),
            service.usual_port()
        )));
    };
    let (tls_port, starttls_port) = service.ports();
    match security {
        Security::Tls if port == starttls_port => Some(Note::error(format!(
            "Port {port} uses STARTTLS, not TLS from the first byte. Choose STARTTLS, or use port {tls_port} with TLS."
        ))),
        Security::StartTls if port == tls_port => Some(Note::error(format!(
            "Port {port} expects TLS from the first byte. Choose TLS, or use port {starttls_port} with STARTTLS."
        ))),
        _ if service == Service::Smtp && port == 25 => Some(Note::warning(
            "Port 25 is for mail between servers and is often blocked by networks. Use 587 with STARTTLS.",
        )),
        _ => match Service::of_port(port) {
            Some(other) if other.name() != service.name() => Some(Note::warning(format!(
                "Port {port} is {}'s port, not {}'s. {} is usually on {}.",
                other.name(),
                service.name(),
                service.name(),
                service.usual_port()
            ))),
            _ => None,
        },
    }
}

/// SMTP and IMAP on one host and port: they are different servers, so one of the two is wrong.
pub fn check_distinct_servers(smtp: (&str, &str), read: (&str, &str), read_name: &str) -> Check {
    let same_host = tidy(smtp.0).eq_ignore_ascii_case(tidy(read.0));
    let same_port = parse_port(smtp.1).is_some() && parse_port(smtp.1) == parse_port(read.1);
    (same_host && same_port).then(|| {
        Note::warning(format!(
            "SMTP and {read_name} are set to the same server and port, but they listen on \
             different ports (Microsoft 365: SMTP 587, IMAP 993). One of the two ports is wrong."
        ))
    })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    Smtp,
    Read(Protocol),
}

impl Service {
    fn name(self) -> &'static str {
        match self {
            Service::Smtp => "SMTP",
            Service::Read(Protocol::Imap) => "IMAP",
            Service::Read(Protocol::Pop) => "POP",
        }
    }

    /// (TLS port, STARTTLS port) as the standards assign them.
    fn ports(self) -> (u16, u16) {
        match self {
            Service::Smtp => (465, 587),
            Service::Read(Protocol::Imap) => (993, 143),
            Service::Read(Protocol::Pop) => (995, 110),
        }
    }

    /// The service the standards give a mail port to.
    fn of_port(port: u16) -> Option<Service> {
        match port {
            25 | 465 | 587 => Some(Service::Smtp),
            143 | 993 => Some(Service::Read(Protocol::Imap)),
            110 | 995 => Some(Service::Read(Protocol::Pop)),
            _ => None,
        }
    }

    fn usual_port(self) -> u16 {
        match self {
            Service::Smtp => 587,
            Service::Read(Protocol::Imap) => 993,
            Service::Read(Protocol::Pop) => 995,
        }
    }
}

pub fn check_security(input: &str) -> Check {
    Security::parse(input)
        .is_none()
        .then(|| Note::error("Choose TLS or STARTTLS."))
}

pub fn check_protocol(input: &str) -> Check {
    match Protocol::parse(input) {
        None => Some(Note::error("Choose IMAP or POP.")),
        Some(Protocol::Pop) => Some(Note::warning(
            "POP reads only the inbox and cannot map folders; Microsoft and most ERPs recommend \
             IMAP. Use POP only if your application requires it.",
        )),
        Some(Protocol::Imap) => None,
    }
}

pub fn parse_timeout_minutes(input: &str) -> Option<u32> {
    tidy(input)
        .parse::<u32>()
        .ok()
        .filter(|m| (1..=30).contains(m))
}

pub fn check_timeout(input: &str) -> Check {
    parse_timeout_minutes(input)
        .is_none()
        .then(|| Note::error(MSG_TIMEOUT))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn msg(c: Check) -> String {
        c.map(|n| n.message).unwrap_or_default()
    }

    #[test]
    fn email_addresses() {
        assert_eq!(
            check_email("invoices@contoso.com", "e-mail address", true),
            None
        );
        assert_eq!(
            check_email(
                " first.last+erp@contoso.onmicrosoft.com ",
                "e-mail address",
                true
            ),
            None
        );
        assert_eq!(
            msg(check_email("", "e-mail address", true)),
            MSG_EMAIL_REQUIRED
        );
        assert_eq!(check_email("", "reply address", false), None);
        assert_eq!(
            msg(check_email("invoices", "e-mail address", true)),
            "The e-mail address needs an @ and a domain, e.g. invoices@contoso.com."
        );
        assert_eq!(
            msg(check_email("invoices@contoso", "reply address", false)),
            "\"contoso\" is not a mail domain. The reply address should end in your domain, e.g. @contoso.com or @contoso.onmicrosoft.com."
        );
        assert!(msg(check_email("a b@contoso.com", "e-mail address", true))
            .starts_with("The e-mail address cannot contain spaces."));
        assert!(msg(check_email("a..b@contoso.com", "e-mail address", true))
            .starts_with("The part before the @"));
    }

    #[test]
    fn an_ip_address_is_a_host_with_a_warning() {
        let n = check_host("192.0.2.10", "outgoing mail server", "smtp.office365.com").unwrap();
        assert!(!n.is_error(), "{n:?}");
        assert!(n.message.contains("certificate"), "{n:?}");
        assert!(!check_host("[2001:db8::1]", "x", "y").unwrap().is_error());
        assert!(check_host("https://mail.x", "x", "y").unwrap().is_error());
    }

    #[test]
    fn another_services_port_and_one_port_for_both_are_warned() {
        assert_eq!(
            msg(check_port("993", Security::Tls, Service::Smtp)),
            "Port 993 is IMAP's port, not SMTP's. SMTP is usually on 587."
        );
        assert_eq!(
            msg(check_port(
                "587",
                Security::StartTls,
                Service::Read(Protocol::Imap)
            )),
            "Port 587 is SMTP's port, not IMAP's. IMAP is usually on 993."
        );
        assert!(check_distinct_servers(("mail.x", "993"), ("MAIL.x", "993"), "IMAP").is_some());
        assert!(check_distinct_servers(("mail.x", "587"), ("mail.x", "993"), "IMAP").is_none());
    }

    #[test]
    fn port_and_encryption_must_agree() {
        assert_eq!(check_port("587", Security::StartTls, Service::Smtp), None);
        assert_eq!(
            msg(check_port("587", Security::Tls, Service::Smtp)),
            "Port 587 uses STARTTLS, not TLS from the first byte. Choose STARTTLS, or use port 465 with TLS."
        );
        assert_eq!(
            msg(check_port(
                "993",
                Security::StartTls,
                Service::Read(Protocol::Imap)
            )),
            "Port 993 expects TLS from the first byte. Choose TLS, or use port 143 with STARTTLS."
        );
        assert_eq!(
            check_port("993", Security::Tls, Service::Read(Protocol::Imap)),
            None
        );
        assert_eq!(check_port("2525", Security::StartTls, Service::Smtp), None);
        assert_eq!(
            msg(check_port(
                "99999",
                Security::Tls,
                Service::Read(Protocol::Imap)
            )),
            "Enter a port number from 1 to 65535. For Microsoft 365 IMAP uses 993."
        );
        assert_eq!(
            check_port("25", Security::StartTls, Service::Smtp)
                .unwrap()
                .level,
            super::super::Level::Warning
        );
    }

    #[test]
    fn hosts() {
        assert_eq!(
            check_host(
                "smtp.office365.com",
                "outgoing mail server",
                "smtp.office365.com"
            ),
            None
        );
        assert_eq!(
            msg(check_host(
                "https://smtp.office365.com:587",
                "outgoing mail server",
                "smtp.office365.com"
            )),
            "Enter only the server's name or IP address, e.g. smtp.office365.com: no https://, port or path."
        );
        assert_eq!(
            check_host(
                "mail.contoso.com",
                "outgoing mail server",
                "smtp.office365.com"
            )
            .unwrap()
            .level,
            super::super::Level::Warning
        );
        assert_eq!(
            msg(check_host(
                "",
                "incoming mail server",
                "outlook.office365.com"
            )),
            "Enter the incoming mail server. For Microsoft 365 it is outlook.office365.com."
        );
    }

    #[test]
    fn timeout_and_protocol() {
        assert_eq!(check_timeout("3"), None);
        assert_eq!(msg(check_timeout("0")), MSG_TIMEOUT);
        assert_eq!(msg(check_timeout("three")), MSG_TIMEOUT);
        assert_eq!(check_protocol("imap"), None);
        assert_eq!(
            check_protocol("pop").unwrap().level,
            super::super::Level::Warning
        );
    }

    proptest! {
        #[test]
        fn ports_outside_the_range_are_refused(p in 65_536u32..1_000_000) {
            prop_assert!(check_port(&p.to_string(), Security::Tls, Service::Smtp).unwrap().is_error());
        }

        #[test]
        fn plain_addresses_pass(local in "[a-z0-9]{1,20}([.+_-][a-z0-9]{1,10})?", domain in "[a-z0-9]{1,20}\\.(com|org|onmicrosoft\\.com|co\\.uk)") {
            let address = format!("{local}@{domain}");
            prop_assert_eq!(check_email(&address, "e-mail address", true), None);
        }

        #[test]
        fn never_panics_on_any_input(s in "\\PC{0,80}") {
            let _ = check_email(&s, "e-mail address", true);
            let _ = check_host(&s, "outgoing mail server", "smtp.office365.com");
            let _ = check_port(&s, Security::Tls, Service::Smtp);
        }
    }
}
