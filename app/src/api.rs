//! Types exchanged between the browser, the server and host applications. They are part of the
//! versioned `/api/v1` contract: add fields, never rename or remove them within a version.

use serde::{Deserialize, Serialize};

use crate::draft::{AppDetails, Draft, MailboxSettings, SecretStatus};

/// Where a mailbox connection stands, from the admin's point of view.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum AccountState {
    /// The wizard was started; some steps are still missing.
    Draft,
    /// Every setting is in; the mailbox owner has not signed in yet.
    ReadyToSignIn,
    /// Signed in and tested; tokens are kept fresh.
    Connected,
    /// Something broke (refresh refused, secret expired, test failed) and an admin must act.
    NeedsAttention,
}

impl AccountState {
    pub const ALL: [AccountState; 4] = [
        AccountState::Draft,
        AccountState::ReadyToSignIn,
        AccountState::Connected,
        AccountState::NeedsAttention,
    ];

    /// The value stored in the database and sent over the API.
    pub fn as_str(self) -> &'static str {
        match self {
            AccountState::Draft => "draft",
            AccountState::ReadyToSignIn => "ready_to_sign_in",
            AccountState::Connected => "connected",
            AccountState::NeedsAttention => "needs_attention",
        }
    }

    pub fn parse(s: &str) -> Option<AccountState> {
        AccountState::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// The words the admin sees.
    pub fn label(self) -> &'static str {
        match self {
            AccountState::Draft => "Draft",
            AccountState::ReadyToSignIn => "Ready to sign in",
            AccountState::Connected => "Connected",
            AccountState::NeedsAttention => "Needs attention",
        }
    }

    /// What the admin should do next, in one short phrase.
    pub fn next_step(self) -> &'static str {
        match self {
            AccountState::Draft => "Finish the setup steps",
            AccountState::ReadyToSignIn => "Sign in with the mailbox",
            AccountState::Connected => "Nothing to do",
            AccountState::NeedsAttention => "Open the account to see what broke",
        }
    }
}

/// One row of the accounts list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct AccountSummary {
    pub id: String,
    pub name: String,
    pub email: String,
    pub state: AccountState,
    /// Seconds since the Unix epoch.
    #[serde(default)]
    pub created_at: i64,
    pub updated_at: i64,
    /// Why the account needs attention, in a few words (the problem's title), when it does.
    #[serde(default)]
    pub problem: Option<String>,
    /// When the account's own client secret expires (`YYYY-MM-DD`), when it has one.
    #[serde(default)]
    pub secret_expires: Option<String>,
    /// The organisation (Mailkey's ID) it belongs to.
    #[serde(default)]
    pub organisation_id: String,
    /// And its name.
    #[serde(default)]
    pub organisation_name: String,
    /// The host's own ID for it, when the host gave one.
    #[serde(default)]
    pub external_id: Option<String>,
}

/// An organisation: one customer of the host application.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Organisation {
    pub id: String,
    /// The host's own ID for it (unique).
    pub external_id: String,
    pub name: String,
    /// Where Mailkey e-mails the organisation when one of its mailboxes needs a person: a
    /// refused sign-in, refused app credentials, a client secret expiring in 30, 7 or 1 days.
    /// `null`: not e-mailed (webhooks still go out).
    pub notice_email: Option<String>,
    pub accounts: i64,
    /// Seconds since the Unix epoch.
    pub created_at: i64,
    pub updated_at: i64,
}

/// `POST /api/v1/organisations`: creates it, or answers the one with this `external_id`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct NewOrganisation {
    pub external_id: String,
    pub name: String,
}

/// `PATCH /api/v1/organisations/{id}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct OrganisationChange {
    /// A new name; left out: unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Where notices are e-mailed (see `Organisation.notice_email`); `null` stops them; left
    /// out: unchanged.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "ssr", schema(value_type = Option<String>, nullable))]
    pub notice_email: Option<Option<String>>,
}

/// A field that is present, `null` included: `Some(None)` for `null`, where a missing field is
/// `None` (its `#[serde(default)]`).
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// `GET /api/v1/organisations`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct OrganisationList {
    pub organisations: Vec<Organisation>,
}

/// What a deletion did: it is final.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct DeletedAnswer {
    pub deleted: bool,
    /// Accounts deleted with it (for an organisation).
    #[serde(default)]
    pub accounts_deleted: i64,
    pub note: String,
}

/// `GET /api/v1/accounts`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct AccountList {
    pub accounts: Vec<AccountSummary>,
    /// Pass as `after` for the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// Which app an account signs in with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum AppChoice {
    /// The operator's multi-tenant app: the mailbox only signs in.
    Operator,
    /// The customer's own app registration, entered in the wizard.
    Own,
}

/// `POST /api/v1/accounts`: a new account in an organisation. Name and address may be left to
/// the wizard.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct NewAccountRequest {
    /// The organisation, by Mailkey's ID (`org_…`) or, with `organisation_external_id`, by the
    /// host's. A key restricted to one organisation may leave both out.
    #[serde(default)]
    pub organisation_id: Option<String>,
    #[serde(default)]
    pub organisation_external_id: Option<String>,
    /// The host's own ID for the account, unique in its organisation: creating again with it
    /// answers the existing account (200) instead of making a second.
    #[serde(default)]
    pub external_id: Option<String>,
    /// The provider preset (default `microsoft365`).
    #[serde(default)]
    pub provider: Option<String>,
    pub app: AppChoice,
    /// Shown in lists; defaults to the address.
    #[serde(default)]
    pub name: Option<String>,
    /// The mailbox address. With the operator's app the account is then ready to sign in.
    #[serde(default)]
    pub email: Option<String>,
}

/// What `POST /api/v1/accounts` made (or found).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct CreatedAccount {
    pub account: AccountSummary,
    /// `false`: an account with this `external_id` existed and is answered as it is.
    pub created: bool,
    /// Where the account's setup continues in the portal.
    pub setup_url: String,
    /// Things worth telling the user (another account already connects this address, say).
    #[serde(default)]
    pub warnings: Vec<String>,
}

/// `GET /api/v1/accounts/{id}`: an account's settings. Secrets are never included: the client
/// secret is described by [`SecretStatus`] only.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct AccountDetail {
    pub id: String,
    /// The provider preset: `microsoft365` (or `microsoft365-sandbox`).
    pub provider: String,
    /// The last wizard step saved (1–5; 0 for none).
    pub saved_step: u8,
    pub redirect_uri: String,
    pub tenant_id: Option<String>,
    pub app: AppDetails,
    pub client_secret: SecretStatus,
    /// The mailbox step as typed (ports as the form holds them).
    pub mailbox: MailboxSettings,
    /// The mail servers as a host application connects to them: ports as numbers. `None` while
    /// the mailbox step is not saved.
    pub servers: Option<MailServers>,
}

/// Where the mailbox's mail is sent and read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct MailServers {
    pub smtp: MailServer,
    /// IMAP or POP, as `protocol` says.
    pub incoming: MailServer,
    /// `imap` or `pop`.
    pub protocol: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct MailServer {
    pub host: String,
    pub port: u16,
    /// `tls` (from the first byte) or `starttls`.
    pub security: String,
}

impl MailServers {
    /// The servers of a saved mailbox step, when its ports and encryption are well-formed.
    pub fn of(m: &MailboxSettings) -> Option<MailServers> {
        let server = |host: &str, port: &str, security: &str| {
            Some(MailServer {
                host: host.trim().to_string(),
                port: port.trim().parse().ok()?,
                security: crate::provider::Security::parse(security.trim())?
                    .as_str()
                    .to_string(),
            })
        };
        Some(MailServers {
            smtp: server(&m.smtp_host, &m.smtp_port, &m.smtp_security)?,
            incoming: server(&m.imap_host, &m.imap_port, &m.imap_security)?,
            protocol: m.protocol.trim().to_string(),
        })
    }
}

impl From<Draft> for AccountDetail {
    fn from(d: Draft) -> AccountDetail {
        let saved_mailbox = d.saved_step >= crate::draft::Step::Mailbox.number();
        AccountDetail {
            servers: saved_mailbox.then(|| MailServers::of(&d.mailbox)).flatten(),
            provider: d.provider,
            id: d.id,
            saved_step: d.saved_step,
            redirect_uri: d.redirect_uri,
            tenant_id: d.tenant_id,
            app: d.app,
            client_secret: d.client_secret,
            mailbox: d.mailbox,
        }
    }
}

/// `POST /api/v1/accounts/{id}/access-token`: what the host asks for. Both are optional.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct AccessTokenRequest {
    /// Seconds the token must stay valid at least (0 to 3000; default 300).
    #[serde(default)]
    pub min_validity: Option<u32>,
    /// A new token even if the cached one would do (after the mail server refused it).
    #[serde(default)]
    pub force_refresh: bool,
}

/// The answer: a token and everything needed to use it; never the refresh token or a secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct AccessTokenAnswer {
    pub access_token: String,
    pub token_type: String,
    /// Seconds since the Unix epoch.
    pub expires_at: i64,
    /// The scopes the token was asked for.
    pub scopes: Vec<String>,
    pub mailbox: String,
    /// The user name for SASL XOAUTH2 (`user=…\x01auth=Bearer …\x01\x01`): the mailbox.
    pub xoauth2_user: String,
    pub servers: MailServers,
}

/// The body of every `/api/v1` error response: a stable machine-readable `code` and a message
/// written for a person. Never carries secrets or internal details.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
    /// For `invalid_fields`: each refused field and what is wrong with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<std::collections::BTreeMap<String, String>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_serialises_as_its_stored_form() {
        for st in AccountState::ALL {
            assert_eq!(AccountState::parse(st.as_str()), Some(st));
            assert_eq!(
                serde_json::to_string(&st).unwrap(),
                format!("\"{}\"", st.as_str())
            );
        }
        assert_eq!(AccountState::parse("gone"), None);
    }
}

/// Where a new account made in the portal goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OrganisationChoice {
    /// An organisation that exists (its ID).
    Existing(String),
    /// A new one, by this name.
    New(String),
}

/// What "New account" needs before a draft exists.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewAccountInfo {
    /// The redirect URI the server will send.
    pub redirect_uri: String,
    /// The providers offered, as (id, name); the first is the default.
    pub providers: Vec<(String, String)>,
    /// The operator's own apps, as (provider id, app name, publisher): one-click connect.
    pub operator_apps: Vec<(String, String, Option<String>)>,
    /// The organisations an account can go into, as (ID, name); the default one first.
    #[serde(default)]
    pub organisations: Vec<(String, String)>,
}
