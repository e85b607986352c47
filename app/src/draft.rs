//! A mailbox account as the wizard edits it: the values of each step, raw as typed (the rules in
//! [`crate::rules`] say whether they are good), and the draft the server keeps between steps.

use serde::{Deserialize, Serialize};

use crate::provider::{Protocol, Provider};

/// The wizard's steps, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Step {
    Register = 1,
    AppDetails = 2,
    RedirectUri = 3,
    Mailbox = 4,
    Review = 5,
}

impl Step {
    pub const ALL: [Step; 5] = [
        Step::Register,
        Step::AppDetails,
        Step::RedirectUri,
        Step::Mailbox,
        Step::Review,
    ];

    pub fn number(self) -> u8 {
        self as u8
    }

    pub fn from_number(n: u8) -> Option<Step> {
        Step::ALL.into_iter().find(|s| s.number() == n)
    }

    pub fn title(self) -> &'static str {
        match self {
            Step::Register => "Register the app in Entra",
            Step::AppDetails => "Application details",
            Step::RedirectUri => "Redirect URI",
            Step::Mailbox => "Mailbox",
            Step::Review => "Review and sign in",
        }
    }

    /// Short label for the progress indicator on narrow screens.
    pub fn short(self) -> &'static str {
        match self {
            Step::Register => "Register",
            Step::AppDetails => "App",
            Step::RedirectUri => "Redirect",
            Step::Mailbox => "Mailbox",
            Step::Review => "Review",
        }
    }

    pub fn next(self) -> Option<Step> {
        Step::from_number(self.number() + 1)
    }

    pub fn previous(self) -> Option<Step> {
        self.number().checked_sub(1).and_then(Step::from_number)
    }
}

/// Step 2: the app registration. `client_secret` is write-only: the server never fills it in,
/// and `Debug` never shows it, so no log line can carry it.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct AppDetails {
    pub tenant: String,
    pub client_id: String,
    pub app_name: String,
    #[serde(default, skip_serializing)]
    pub client_secret: String,
    pub secret_expires: String,
    pub custom_endpoints: bool,
    pub authorize_url: String,
    pub token_url: String,
}

impl std::fmt::Debug for AppDetails {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppDetails")
            .field("tenant", &self.tenant)
            .field("client_id", &self.client_id)
            .field("app_name", &self.app_name)
            .field(
                "client_secret",
                &if self.client_secret.is_empty() {
                    "(empty)"
                } else {
                    "(redacted)"
                },
            )
            .field("secret_expires", &self.secret_expires)
            .field("custom_endpoints", &self.custom_endpoints)
            .field("authorize_url", &self.authorize_url)
            .field("token_url", &self.token_url)
            .finish()
    }
}

/// Step 4: the mailbox and its servers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct MailboxSettings {
    pub account_name: String,
    pub email: String,
    pub reply_to: String,
    pub smtp_host: String,
    pub smtp_port: String,
    pub smtp_security: String,
    pub protocol: String,
    pub imap_host: String,
    pub imap_port: String,
    pub imap_security: String,
    pub root_folder: String,
    pub timeout_minutes: String,
    pub scopes: String,
}

impl MailboxSettings {
    /// The seeds' presets: Exchange Online's servers, IMAP, INBOX, 3 minutes.
    pub fn preset(provider: &Provider) -> MailboxSettings {
        MailboxSettings {
            account_name: String::new(),
            email: String::new(),
            reply_to: String::new(),
            smtp_host: provider.smtp_host.into(),
            smtp_port: provider.smtp_port.to_string(),
            smtp_security: provider.smtp_security.as_str().into(),
            protocol: Protocol::Imap.as_str().into(),
            imap_host: provider.imap_host.into(),
            imap_port: provider.imap_port.to_string(),
            imap_security: provider.imap_security.as_str().into(),
            root_folder: "INBOX".into(),
            timeout_minutes: "3".into(),
            scopes: provider.default_scopes(Protocol::Imap),
        }
    }
}

/// The client secret as the browser may see it: whether one is set, never its value.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct SecretStatus {
    pub set: bool,
    /// `YYYY-MM-DD`, when the admin gave it.
    pub expires: Option<String>,
    /// Seconds since the Unix epoch.
    pub set_at: Option<i64>,
}

/// A draft as the wizard loads it from the server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Draft {
    pub id: String,
    /// Today's day number on the server (days since 1970-01-01), for the expiry rule.
    pub today: i64,
    /// The provider preset's ID and name (`microsoft365`, "Microsoft 365").
    pub provider: String,
    pub provider_name: String,
    /// The identity platform's base URL, e.g. `https://login.microsoftonline.com`.
    pub authority: String,
    /// The redirect URI the server will send, and a warning when it cannot work.
    pub redirect_uri: String,
    pub redirect_uri_warning: Option<String>,
    pub app: AppDetails,
    /// The tenant ID the server resolved the tenant to.
    pub tenant_id: Option<String>,
    pub client_secret: SecretStatus,
    pub mailbox: MailboxSettings,
    /// The last step whose values were saved (0 for none).
    pub saved_step: u8,
    /// Set when the account signs in with the operator's own app: its name, as users see it.
    pub operator_app: Option<String>,
    /// The organisation it belongs to (its name).
    #[serde(default)]
    pub organisation: String,
}

impl Draft {
    /// Where to pick up: the first step not yet saved.
    pub fn resume_step(&self) -> Step {
        Step::from_number(self.saved_step + 1).unwrap_or(Step::Review)
    }

    /// The tenant segment of the derived endpoints: the resolved ID, else what was entered.
    pub fn tenant_for_endpoints(&self) -> &str {
        self.tenant_id
            .as_deref()
            .unwrap_or(self.app.tenant.as_str())
    }
}

/// Whose app registration an account signs in with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AppSource {
    /// The customer registered an app in their own tenant (the Acumatica way).
    #[default]
    Own,
    /// The operator's multi-tenant app: the customer only signs in and consents (the Salesorder
    /// way).
    Operator,
}

impl AppSource {
    pub fn as_str(self) -> &'static str {
        match self {
            AppSource::Own => "own",
            AppSource::Operator => "operator",
        }
    }

    pub fn parse(s: &str) -> Option<AppSource> {
        match s {
            "own" => Some(AppSource::Own),
            "operator" => Some(AppSource::Operator),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_secret_is_never_debug_printed() {
        let app = AppDetails {
            client_secret: "Qx38Q~Lm4Nv7Rt2Wb9Kd1Hs6Gf3Jp8Zc5Yx0Ua7E".into(),
            ..AppDetails::default()
        };
        let printed = format!("{app:?}");
        assert!(!printed.contains("Qx38Q"), "{printed}");
        assert!(printed.contains("(redacted)"), "{printed}");
    }
}
