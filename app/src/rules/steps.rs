//! Whole-step validation: every field of a step, keyed by its form field name. The browser and the
//! server call these same functions.

use super::{
    dates::Day,
    endpoints::{self, Endpoint, ExpectedTenant},
    mailbox::{self, Service},
    scopes, secret, tenant, Findings, Note,
};
use crate::{
    draft::{AppDetails, MailboxSettings},
    provider::{Protocol, Provider, Security},
};

/// What the rules need to know besides the values.
pub struct AppContext<'a> {
    pub today: Day,
    pub authority: &'a str,
    /// A secret is stored already, so an empty secret field keeps it.
    pub secret_set: bool,
    pub resolved_tenant_id: Option<&'a str>,
}

pub fn check_app_details(v: &AppDetails, cx: &AppContext<'_>) -> Findings {
    let mut f = Findings::default();
    // Empty: the tenant is found from the mailbox's address at the Mailbox step.
    if !v.tenant.trim().is_empty() {
        f.add("tenant", tenant::check(&v.tenant));
    }
    f.add("client_id", secret::check_client_id(&v.client_id));
    f.add(
        "client_secret",
        secret::check_client_secret(&v.client_secret, cx.secret_set),
    );
    f.add(
        "secret_expires",
        secret::check_expiry(&v.secret_expires, cx.today),
    );
    if v.custom_endpoints {
        let expected = ExpectedTenant {
            entered: &v.tenant,
            resolved_id: cx.resolved_tenant_id,
        };
        for (field, value, which) in [
            ("authorize_url", &v.authorize_url, Endpoint::Authorize),
            ("token_url", &v.token_url, Endpoint::Token),
        ] {
            f.add(
                field,
                endpoints::check(value, which, cx.authority, &expected),
            );
        }
    }
    f
}

pub fn check_mailbox(v: &MailboxSettings, provider: &Provider) -> Findings {
    let mut f = Findings::default();
    // An empty account name becomes the address when saved.
    f.add(
        "email",
        mailbox::check_email(&v.email, "e-mail address", true),
    );
    f.add(
        "reply_to",
        mailbox::check_email(&v.reply_to, "reply address", false),
    );
    f.add(
        "smtp_host",
        mailbox::check_host(&v.smtp_host, "outgoing mail server", provider.smtp_host),
    );
    f.add("smtp_security", mailbox::check_security(&v.smtp_security));
    if let Some(sec) = Security::parse(&v.smtp_security) {
        f.add(
            "smtp_port",
            mailbox::check_port(&v.smtp_port, sec, Service::Smtp),
        );
    }
    f.add("protocol", mailbox::check_protocol(&v.protocol));
    let protocol = Protocol::parse(&v.protocol).unwrap_or(Protocol::Imap);
    f.add(
        "imap_host",
        mailbox::check_host(&v.imap_host, "incoming mail server", provider.imap_host),
    );
    f.add("imap_security", mailbox::check_security(&v.imap_security));
    if let Some(sec) = Security::parse(&v.imap_security) {
        f.add(
            "imap_port",
            mailbox::check_port(&v.imap_port, sec, Service::Read(protocol)),
        );
    }
    if f.get("imap_port").is_none() {
        f.add(
            "imap_port",
            mailbox::check_distinct_servers(
                (&v.smtp_host, &v.smtp_port),
                (&v.imap_host, &v.imap_port),
                if protocol == Protocol::Pop {
                    "POP"
                } else {
                    "IMAP"
                },
            ),
        );
    }
    f.add(
        "root_folder",
        mailbox::check_required_text(&v.root_folder, mailbox::MSG_ROOT_FOLDER_REQUIRED),
    );
    f.add(
        "timeout_minutes",
        mailbox::check_timeout(&v.timeout_minutes),
    );
    f.add("scopes", scopes::check(&v.scopes, provider, protocol));
    f
}

/// The warning shown when the public URL makes an unusable redirect URI.
pub fn redirect_uri_warning(redirect_uri: &str) -> Option<Note> {
    let rest = redirect_uri.strip_prefix("http://")?;
    let host = rest
        .split(['/', ':'])
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let local = host == "localhost" || host == "127.0.0.1" || host == "[";
    (!local).then(|| {
        Note::warning(format!(
            "This redirect URI uses http:// on {host}. Microsoft accepts http:// only for \
             localhost: set Mailkey's public_url to its https:// address (behind a proxy, the \
             address users see)."
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::MICROSOFT_365;

    fn good_app() -> AppDetails {
        AppDetails {
            tenant: "contoso.onmicrosoft.com".into(),
            client_id: "8f3c2a9e-1b4d-4c6e-9a7f-2d5b8e1c0a93".into(),
            app_name: "Mailkey invoices".into(),
            client_secret: "Xk28Q~f1bN3pVqz9Lr.4hT7wYc_2mJd5sGe8uAoR".into(),
            secret_expires: "2028-05-01".into(),
            custom_endpoints: false,
            authorize_url: String::new(),
            token_url: String::new(),
        }
    }

    fn cx() -> AppContext<'static> {
        AppContext {
            today: Day::parse("2026-11-23").unwrap(),
            authority: MICROSOFT_365.authority,
            secret_set: false,
            resolved_tenant_id: None,
        }
    }

    #[test]
    fn the_tenant_and_the_names_may_be_left_empty() {
        let app = AppDetails {
            tenant: String::new(),
            app_name: String::new(),
            ..good_app()
        };
        assert!(!check_app_details(&app, &cx()).has_errors());
        let mut m = MailboxSettings::preset(&MICROSOFT_365);
        m.email = "invoices@contoso.com".into();
        assert!(!check_mailbox(&m, &MICROSOFT_365).has_errors());
    }

    #[test]
    fn good_values_pass() {
        assert!(check_app_details(&good_app(), &cx()).is_empty());
        let mut m = MailboxSettings::preset(&MICROSOFT_365);
        m.account_name = "Invoices".into();
        m.email = "invoices@contoso.com".into();
        assert!(check_mailbox(&m, &MICROSOFT_365).is_empty());
    }

    #[test]
    fn each_field_reports_under_its_own_name() {
        let bad = AppDetails {
            tenant: "common".into(),
            client_id: "nope".into(),
            app_name: " ".into(),
            client_secret: "8f3c2a9e-1b4d-4c6e-9a7f-2d5b8e1c0a93".into(),
            secret_expires: "May 2028".into(),
            custom_endpoints: true,
            authorize_url: "https://login.microsoftonline.com/common/oauth2/authorize".into(),
            token_url: "".into(),
        };
        let f = check_app_details(&bad, &cx());
        let fields: Vec<&str> = f.errors().map(|(k, _)| k).collect();
        assert_eq!(
            fields,
            // The display name is optional (an empty one is no error).
            [
                "tenant",
                "client_id",
                "client_secret",
                "secret_expires",
                "authorize_url",
                "token_url"
            ]
        );
        assert_eq!(
            f.get("client_secret").unwrap().message,
            secret::MSG_SECRET_IS_ID
        );
    }

    #[test]
    fn a_port_that_contradicts_its_encryption_is_flagged() {
        let mut m = MailboxSettings::preset(&MICROSOFT_365);
        m.account_name = "Invoices".into();
        m.email = "invoices@contoso.com".into();
        m.smtp_security = "tls".into();
        m.imap_security = "starttls".into();
        let f = check_mailbox(&m, &MICROSOFT_365);
        assert!(f
            .get("smtp_port")
            .unwrap()
            .message
            .starts_with("Port 587 uses STARTTLS"));
        assert!(f
            .get("imap_port")
            .unwrap()
            .message
            .starts_with("Port 993 expects TLS"));
    }

    #[test]
    fn redirect_uri_over_http_warns_off_localhost() {
        assert_eq!(
            redirect_uri_warning("https://mailkey.contoso.com/oauth/callback"),
            None
        );
        assert_eq!(
            redirect_uri_warning("http://localhost:3000/oauth/callback"),
            None
        );
        assert_eq!(
            redirect_uri_warning("http://127.0.0.1:3000/oauth/callback"),
            None
        );
        assert!(
            redirect_uri_warning("http://mailkey.contoso.com/oauth/callback")
                .unwrap()
                .message
                .starts_with("This redirect URI uses http:// on mailkey.contoso.com.")
        );
    }
}
