//! Provider presets: everything Mailkey knows about a mail provider, as data. Code never names a
//! Microsoft host; it reads it from here, so national clouds and the sandbox are presets too.

use serde::{Deserialize, Serialize};

/// How a mail connection is encrypted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Security {
    /// TLS from the first byte ("Implicit TLS", SMTPS/IMAPS).
    Tls,
    /// Plain connection upgraded with STARTTLS ("Explicit TLS").
    StartTls,
}

impl Security {
    pub const ALL: [Security; 2] = [Security::StartTls, Security::Tls];

    pub fn as_str(self) -> &'static str {
        match self {
            Security::Tls => "tls",
            Security::StartTls => "starttls",
        }
    }

    pub fn parse(s: &str) -> Option<Security> {
        Security::ALL.into_iter().find(|v| v.as_str() == s)
    }

    pub fn label(self) -> &'static str {
        match self {
            Security::Tls => "TLS (implicit)",
            Security::StartTls => "STARTTLS (explicit TLS)",
        }
    }
}

/// The protocol used to read mail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Imap,
    Pop,
}

impl Protocol {
    pub const ALL: [Protocol; 2] = [Protocol::Imap, Protocol::Pop];

    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Imap => "imap",
            Protocol::Pop => "pop",
        }
    }

    pub fn parse(s: &str) -> Option<Protocol> {
        Protocol::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// The one that is not this one.
    pub fn other(self) -> Protocol {
        match self {
            Protocol::Imap => Protocol::Pop,
            Protocol::Pop => Protocol::Imap,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Protocol::Imap => "IMAP (recommended)",
            Protocol::Pop => "POP (not recommended)",
        }
    }
}

/// A mail provider using the Microsoft identity platform.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Provider {
    pub id: &'static str,
    pub name: &'static str,
    /// Where tenants live: `{authority}/{tenant}/oauth2/v2.0/authorize`.
    pub authority: &'static str,
    /// The resource whose scopes the mail servers accept.
    pub mail_resource: &'static str,
    /// The resource of Microsoft Graph, whose tokens the mail servers refuse.
    pub graph_resource: &'static str,
    pub smtp_host: &'static str,
    pub smtp_port: u16,
    pub smtp_security: Security,
    pub imap_host: &'static str,
    pub imap_port: u16,
    pub imap_security: Security,
    pub pop_port: u16,
    /// The Entra admin center, for deep links.
    pub admin_center: &'static str,
}

pub const MICROSOFT_365: Provider = Provider {
    id: "microsoft365",
    name: "Microsoft 365",
    authority: "https://login.microsoftonline.com",
    mail_resource: "https://outlook.office.com",
    graph_resource: "https://graph.microsoft.com",
    smtp_host: "smtp.office365.com",
    smtp_port: 587,
    smtp_security: Security::StartTls,
    imap_host: "outlook.office365.com",
    imap_port: 993,
    imap_security: Security::Tls,
    pop_port: 995,
    admin_center: "https://entra.microsoft.com",
};

/// Microsoft 365 through Mailkey's own sandbox identity provider: identical but for the
/// authority, which is relative to Mailkey's public URL. Offered only when the sandbox is on.
pub const MICROSOFT_365_SANDBOX: Provider = Provider {
    id: "microsoft365-sandbox",
    name: "Microsoft 365 (sandbox)",
    authority: "/sandbox",
    ..MICROSOFT_365
};

pub const PROVIDERS: [&Provider; 2] = [&MICROSOFT_365, &MICROSOFT_365_SANDBOX];

/// Scopes with no resource: OpenID Connect's and the refresh-token grant.
pub const OIDC_SCOPES: [&str; 4] = ["offline_access", "openid", "email", "profile"];

impl Provider {
    pub fn by_id(id: &str) -> Option<&'static Provider> {
        PROVIDERS.into_iter().find(|p| p.id == id)
    }

    /// Whether the authority is a path under Mailkey's own URL (the sandbox).
    pub fn is_local(&self) -> bool {
        self.authority.starts_with('/')
    }

    /// The default scopes for reading over `protocol` and sending over SMTP.
    pub fn default_scopes(&self, protocol: Protocol) -> String {
        let read = match protocol {
            Protocol::Imap => "IMAP.AccessAsUser.All",
            Protocol::Pop => "POP.AccessAsUser.All",
        };
        format!(
            "{r}/{read} {r}/SMTP.Send offline_access openid email profile",
            r = self.mail_resource
        )
    }

    pub fn authorize_url(&self, tenant: &str) -> String {
        format!("{}/{tenant}/oauth2/v2.0/authorize", self.authority)
    }

    pub fn token_url(&self, tenant: &str) -> String {
        format!("{}/{tenant}/oauth2/v2.0/token", self.authority)
    }

    /// The document that says whether a domain belongs to a tenant, and which.
    pub fn openid_configuration_url(&self, tenant: &str) -> String {
        format!(
            "{}/{tenant}/v2.0/.well-known/openid-configuration",
            self.authority
        )
    }

    /// Entra admin center: the list of app registrations.
    pub fn app_registrations_link(&self) -> String {
        format!(
            "{}/#view/Microsoft_AAD_RegisteredApps/ApplicationsListBlade/quickStartType~/null/sourceType/Microsoft_AAD_IAM",
            self.admin_center
        )
    }

    /// Entra admin center: "New registration".
    pub fn new_registration_link(&self) -> String {
        format!(
            "{}/#view/Microsoft_AAD_RegisteredApps/CreateApplicationBlade/quickStartType~/null/isMSAApp~/false",
            self.admin_center
        )
    }

    /// Entra admin center: one page of an app, e.g. `Credentials` (Certificates & secrets),
    /// `CallAnAPI` (API permissions), `Authentication` (redirect URIs).
    pub fn app_page_link(&self, client_id: &str, page: &str) -> String {
        format!(
            "{}/#view/Microsoft_AAD_RegisteredApps/ApplicationMenuBlade/~/{page}/appId/{client_id}/isMSAApp~/false",
            self.admin_center
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_follow_the_v2_shape() {
        let p = MICROSOFT_365;
        assert_eq!(
            p.authorize_url("contoso.com"),
            "https://login.microsoftonline.com/contoso.com/oauth2/v2.0/authorize"
        );
        assert_eq!(
            p.token_url("contoso.com"),
            "https://login.microsoftonline.com/contoso.com/oauth2/v2.0/token"
        );
        assert_eq!(
            p.default_scopes(Protocol::Imap),
            "https://outlook.office.com/IMAP.AccessAsUser.All https://outlook.office.com/SMTP.Send offline_access openid email profile"
        );
    }

    #[test]
    fn enums_round_trip_their_form_values() {
        for s in Security::ALL {
            assert_eq!(Security::parse(s.as_str()), Some(s));
        }
        for p in Protocol::ALL {
            assert_eq!(Protocol::parse(p.as_str()), Some(p));
        }
    }
}
