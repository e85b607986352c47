//! What a Microsoft 365 tenant must allow before a mailbox can connect, as the admin checks it
//! before signing in. Each item carries the diagnosis the connection test gives when it is not
//! met, made by the same code from Exchange Online's own replies, so the two never disagree.

use mailkey_app::{
    mail_test::Prerequisite,
    provider::{Protocol, Security},
};

use super::{
    diagnosis::{explain, Context},
    failure::Failure,
};

/// The checklist for `mailbox` (an address; an empty one reads "the mailbox"), read over
/// `protocol`.
pub fn checklist(mailbox: &str, protocol: Protocol) -> Vec<Prerequisite> {
    let mailbox = if mailbox.trim().is_empty() {
        "the mailbox"
    } else {
        mailbox.trim()
    };
    let smtp = Context {
        protocol: "SMTP",
        host: "smtp.office365.com",
        port: 587,
        security: Security::StartTls,
        mailbox,
        root_folder: "INBOX",
    };
    // Exchange Online's replies when the item is missing.
    let smtp_auth_off = Failure::smtp(
        535,
        "5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the \
         Tenant. Visit https://aka.ms/smtp_auth_disabled for more information.",
    );
    // How Exchange Online refuses a sign-in over the protocol that is turned off, and where
    // that protocol is.
    let (name, port, reading_off) = match protocol {
        Protocol::Imap => (
            "IMAP",
            993,
            Failure::ImapAuth("AUTHENTICATE failed.".into()),
        ),
        Protocol::Pop => (
            "POP",
            995,
            Failure::PopAuth("Authentication failure: unknown user name or bad password.".into()),
        ),
    };
    let reading = Context {
        protocol: name,
        host: "outlook.office365.com",
        port,
        security: Security::Tls,
        ..smtp
    };
    let no_mailbox = Failure::smtp(
        535,
        "5.7.3 Authentication unsuccessful [BN9PR03CA0123.namprd03.prod.outlook.com]",
    );
    vec![
        Prerequisite {
            key: "user-mailbox".into(),
            title: format!("{mailbox} is a licensed user mailbox"),
            steps: format!(
                "In the Microsoft 365 admin center → Users → Active users, {mailbox} is listed \
                 with an Exchange Online licence. A distribution group, a mail contact or an \
                 alias cannot sign in; a shared mailbox needs a licence to sign in itself."
            ),
            when_missing: Some(explain(&no_mailbox, &smtp)),
        },
        Prerequisite {
            key: "smtp-auth".into(),
            title: "SMTP AUTH is allowed".into(),
            steps: format!(
                "For the organisation: Exchange admin center → Settings → Mail flow → Mail flow \
                 settings, uncheck \"Turn off SMTP AUTH protocol for your organization\" and \
                 save. Or for this mailbox only: Microsoft 365 admin center → Users → Active \
                 users → {mailbox} → Mail → Manage email apps, check \"Authenticated SMTP\"."
            ),
            when_missing: Some(explain(&smtp_auth_off, &smtp)),
        },
        Prerequisite {
            key: name.to_lowercase(),
            title: format!("{name} is on for the mailbox"),
            steps: format!(
                "Microsoft 365 admin center → Users → Active users → {mailbox} → Mail → Manage \
                 email apps, check \"{name}\" (it is on unless an admin turned it off)."
            ),
            when_missing: Some(explain(&reading_off, &reading)),
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_item_names_the_mailbox_and_the_tests_own_diagnosis() {
        let list = checklist("invoices@contoso.com", Protocol::Imap);
        let keys: Vec<_> = list.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["user-mailbox", "smtp-auth", "imap"]);
        let smtp = &list[1];
        assert!(smtp
            .steps
            .contains("Turn off SMTP AUTH protocol for your organization"));
        assert!(smtp.steps.contains("invoices@contoso.com"));
        let missing = smtp.when_missing.as_ref().unwrap();
        assert_eq!(missing.title, "SMTP AUTH is turned off");
        assert!(missing
            .reply
            .as_deref()
            .unwrap()
            .contains("SmtpClientAuthentication is disabled for the Tenant"));
        assert_eq!(
            list[2].when_missing.as_ref().unwrap().title,
            "IMAP refused the sign-in"
        );
        assert_eq!(
            checklist(" ", Protocol::Imap)[0].title,
            "the mailbox is a licensed user mailbox"
        );
        let pop = checklist("invoices@contoso.com", Protocol::Pop);
        assert_eq!(pop[2].key, "pop");
        assert_eq!(
            pop[2].when_missing.as_ref().unwrap().title,
            "POP refused the sign-in"
        );
    }
}
