//! What a notice e-mail says: pure, from the event it tells of. Facts first (which mailbox,
//! what happened, by when), then the one thing to do; never a secret or a token.

use mailkey_app::webhooks::EventType;

use crate::storage::{EventRecord, DEFAULT_ORGANISATION};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    pub subject: String,
    pub body: String,
}

/// Where the words point to: the portal's pages for the operator's own organisation (a host's
/// customers reach Mailkey through the host's application instead).
pub struct Links<'a> {
    pub public_url: &'a str,
}

impl Links<'_> {
    fn account(&self, event: &EventRecord, path: &str) -> Option<String> {
        let own = event.organisation_id.as_deref() == Some(DEFAULT_ORGANISATION);
        let id = event.account_id.as_deref()?;
        own.then(|| {
            format!(
                "{}/accounts/{id}{path}",
                self.public_url.trim_end_matches('/')
            )
        })
    }
}

/// The notice for `event` (one of [`EventType::MAILED`]), or `None` for any other type.
pub fn compose(
    event: &EventRecord,
    organisation: &str,
    to: &str,
    links: &Links<'_>,
) -> Option<Notice> {
    let mailbox = event.mailbox.as_deref().unwrap_or("a mailbox");
    let name = event
        .account_name
        .as_deref()
        .filter(|n| !n.trim().is_empty())
        .map(|n| format!(" (\u{201c}{n}\u{201d})"))
        .unwrap_or_default();
    let reason = event
        .reason
        .as_deref()
        .map(|r| format!("\nMicrosoft's answer: {r}\n"))
        .unwrap_or_default();
    let (subject, what, todo) = match event.event_type {
        EventType::AccountNeedsReconnect => (
            format!("Action needed: {mailbox} must sign in again"),
            format!(
                "Mailkey can no longer get access tokens for {mailbox}{name}: Microsoft refused \
                 its stored sign-in (a changed password, a revoked session or an administrator's \
                 policy does this). Until someone signs in again as {mailbox}, the application \
                 that uses it cannot send or read mail with it.\n{reason}"
            ),
            match links.account(event, "") {
                Some(url) => format!(
                    "Open {url} and choose \u{201c}Sign in again\u{201d}, signing in as {mailbox}."
                ),
                None => format!(
                    "Reconnect the mailbox where it was set up (your business application's mail \
                     settings), signing in as {mailbox}."
                ),
            },
        ),
        EventType::AccountAppRefused => (
            format!("Action needed: {mailbox} stopped working: its app was refused"),
            format!(
                "Microsoft refused the credentials of the app registration {mailbox}{name} \
                 signs in with, usually because its client secret expired or was deleted. The \
                 mailbox keeps its sign-in, but no new access token is issued until the app's \
                 secret is fixed.\n{reason}"
            ),
            renew(links.account(event, "/renew-secret"), "now"),
        ),
        EventType::AccountSecretExpiring => {
            let on = event.expires_on.as_deref().unwrap_or("soon");
            let days = match event.days_left {
                Some(0) => "today".to_string(),
                Some(1) => "in 1 day".to_string(),
                Some(n) => format!("in {n} days"),
                None => "soon".to_string(),
            };
            (
                format!("{mailbox}: its app's client secret expires {days} ({on})"),
                format!(
                    "The client secret of the app registration {mailbox}{name} signs in with \
                     expires on {on}. From then on Microsoft refuses the app, and the mailbox \
                     stops working for the application that uses it.\n"
                ),
                renew(
                    links.account(event, "/renew-secret"),
                    &format!("before {on}"),
                ),
            )
        }
        _ => return None,
    };
    let body = format!(
        "{what}\nWhat to do: {todo}\n\n-- \nMailkey sent this because {to} receives notices \
         about the mailboxes of {organisation}. Webhooks carry the same news to the application."
    );
    Some(Notice { subject, body })
}

fn renew(link: Option<String>, when: &str) -> String {
    let how = "create a new client secret in Microsoft Entra (App registrations, the app, \
               Certificates & secrets) and enter its value in Mailkey (\u{201c}Renew the \
               secret\u{201d}); the mailbox does not need to sign in again.";
    match link {
        Some(url) => format!("{when}, {how} The page: {url}"),
        None => format!("{when}, {how}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(t: EventType, organisation: &str) -> EventRecord {
        EventRecord {
            id: "msg_1".into(),
            event_type: t,
            occurred_at: 0,
            organisation_id: Some(organisation.into()),
            organisation_external_id: None,
            account_id: Some("acc_1".into()),
            account_external_id: None,
            account_name: Some("Invoices".into()),
            mailbox: Some("invoices@contoso.com".into()),
            reason_code: Some("invalid_grant".into()),
            reason: Some("The sign-in was revoked".into()),
            expires_on: Some("2027-01-05".into()),
            days_left: Some(7),
        }
    }

    const LINKS: Links<'static> = Links {
        public_url: "https://mailkey.example/",
    };

    #[test]
    fn a_lost_sign_in_names_the_mailbox_the_reason_and_the_page() {
        let n = compose(
            &event(EventType::AccountNeedsReconnect, DEFAULT_ORGANISATION),
            "Contoso",
            "it@contoso.com",
            &LINKS,
        )
        .unwrap();
        assert_eq!(
            n.subject,
            "Action needed: invoices@contoso.com must sign in again"
        );
        assert!(n
            .body
            .contains("Microsoft's answer: The sign-in was revoked"));
        assert!(n
            .body
            .contains("Open https://mailkey.example/accounts/acc_1 and choose"));
        assert!(n.body.contains("it@contoso.com receives notices"));
    }

    #[test]
    fn a_host_customer_is_sent_to_its_application_not_the_portal() {
        let n = compose(
            &event(EventType::AccountSecretExpiring, "org_42"),
            "Fabrikam",
            "it@fabrikam.com",
            &LINKS,
        )
        .unwrap();
        assert_eq!(
            n.subject,
            "invoices@contoso.com: its app's client secret expires in 7 days (2027-01-05)"
        );
        assert!(!n.body.contains("https://"), "{}", n.body);
        assert!(n
            .body
            .contains("before 2027-01-05, create a new client secret"));
    }

    #[test]
    fn only_the_mailed_types_make_a_notice() {
        for t in EventType::ALL {
            let made = compose(&event(t, "org_1"), "C", "a@b.c", &LINKS).is_some();
            assert_eq!(made, EventType::MAILED.contains(&t), "{t:?}");
        }
    }
}
