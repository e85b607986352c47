//! Connect sessions in the `/api/v1` contract, and what the embedded wizard exchanges with the
//! server (not a public API: only Mailkey's own page calls `/embed/…`).

use serde::{Deserialize, Serialize};

use crate::{api::AccountState, api::AppChoice, sign_in::SignInProblem};

/// `PUT /api/v1/organisations/{id}/allowed-origins`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct AllowedOrigins {
    /// The origins the organisation's pages may frame Mailkey from: scheme, host and port,
    /// like `https://erp.example.com`. Replaces the list; `[]` allows none.
    pub origins: Vec<String>,
}

/// The account a connect session is for, when it is new (or found again by `external_id`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ConnectAccount {
    /// The host's own ID for the account: the same one again continues that account.
    pub external_id: String,
    /// The mailbox address. With the operator's app the person connecting only signs in.
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    /// Which app the account signs in with (default `operator`).
    #[serde(default)]
    pub app: Option<AppChoice>,
    #[serde(default)]
    pub provider: Option<String>,
}

/// `POST /api/v1/connect-sessions`: either `account` (set up a new one) or
/// `reconnect_account_id` (an existing one signs in again; only sign-in and the test are shown).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct NewConnectSession {
    #[serde(default)]
    pub organisation_id: Option<String>,
    #[serde(default)]
    pub organisation_external_id: Option<String>,
    #[serde(default)]
    pub account: Option<ConnectAccount>,
    #[serde(default)]
    pub reconnect_account_id: Option<String>,
    /// The parent origins that may frame this session, each one of the organisation's allowed
    /// origins. `[]`: only top-level use (the hosted URL).
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// Where the hosted page returns at the end (`?mailkey_outcome=connected&account_id=…`);
    /// on one of `allowed_origins`.
    #[serde(default)]
    pub return_url: Option<String>,
    /// 60 to 1800 seconds (default 900).
    #[serde(default)]
    pub lifetime_secs: Option<i64>,
    /// The host application's name, shown in the wizard ("Connect your mailbox to Acme ERP").
    #[serde(default)]
    pub host_name: Option<String>,
}

/// The session just made: `launch_token` and `url` are answered this once and work once.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ConnectSession {
    /// `cs_…`
    pub id: String,
    pub account_id: String,
    pub organisation_id: String,
    /// `setup` or `reconnect`.
    pub mode: String,
    pub allowed_origins: Vec<String>,
    pub expires_at: i64,
    /// For `Mailkey.open({fetchSessionToken})` or `<iframe src="…/embed/{launch_token}">`.
    pub launch_token: String,
    /// The hosted page: open it top-level (a new tab, a link e-mailed, a phone).
    pub url: String,
}

/// Never the token, wherever a value is printed.
impl std::fmt::Debug for ConnectSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectSession")
            .field("id", &self.id)
            .field("account_id", &self.account_id)
            .field("launch_token", &"(redacted)")
            .finish_non_exhaustive()
    }
}

/// What the embedded page knows before its launch token is used.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmbedPreview {
    /// `None`: the token can be used; else the stable code and the words why not.
    pub refused: Option<(String, String)>,
    pub organisation: String,
    pub host_name: String,
    /// The origins it may be framed from (and talks to with `postMessage`).
    pub parent_origins: Vec<String>,
    pub return_url: Option<String>,
}

/// `POST /embed/session`'s answer: the credential the page keeps in memory, and the account's
/// state (so the first step needs one round trip, not two).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmbedLaunch {
    pub credential: String,
    pub expires_at: i64,
    pub account_id: String,
    pub external_id: Option<String>,
    pub reconnect: bool,
    pub state: EmbedState,
}

impl std::fmt::Debug for EmbedLaunch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbedLaunch")
            .field("account_id", &self.account_id)
            .field("credential", &"(redacted)")
            .finish_non_exhaustive()
    }
}

/// `GET /embed/api/state` (and part of `POST /embed/session`'s answer): where the session's
/// account stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmbedState {
    pub account_id: String,
    pub name: String,
    pub mailbox: String,
    pub state: AccountState,
    /// Signed in, with a refresh token kept.
    pub connected: bool,
    pub signed_in_as: Option<String>,
    /// Every setting is in: the person connecting only signs in.
    pub ready_to_sign_in: bool,
    /// Why the last sign-in (or the stored one) failed, with its fix.
    pub problem: Option<SignInProblem>,
    /// The app the account signs in with, as the person sees it.
    pub app_name: String,
    /// The account signs in through its organisation's own app registration, whose details are
    /// not saved yet: the page asks for them first (`PUT /embed/api/app`).
    pub needs_app: bool,
    /// What that app registration must list as its redirect URI.
    pub redirect_uri: String,
    /// Today on the server's clock, as a day number (the secret-expiry check's "today").
    pub today: i64,
}

/// `PUT /embed/api/app`: the own app registration's details, as the wizard's Application
/// details step takes them.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbedAppDetails {
    pub client_id: String,
    pub client_secret: String,
    /// Optional: found from the mailbox's domain when empty.
    #[serde(default)]
    pub tenant: String,
    /// `YYYY-MM-DD`; optional (warned about).
    #[serde(default)]
    pub secret_expires: String,
}

impl std::fmt::Debug for EmbedAppDetails {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbedAppDetails")
            .field("client_id", &self.client_id)
            .field("client_secret", &"(redacted)")
            .field("tenant", &self.tenant)
            .field("secret_expires", &self.secret_expires)
            .finish()
    }
}

/// The answer to `PUT /embed/api/app`: the account now, and what to keep in mind.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmbedAppSaved {
    pub state: EmbedState,
    pub warnings: Vec<String>,
}

/// `POST /embed/api/sign-in`: where the popup goes (opened in the click, then sent here).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmbedTicket {
    pub url: String,
    pub ticket: String,
}

/// `GET /embed/api/sign-in/{ticket}`: whether the popup's sign-in finished.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmbedSignInResult {
    pub finished: bool,
    pub connected: bool,
    pub problem: Option<SignInProblem>,
    pub consent_granted: bool,
}

/// `POST /embed/api/tests`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmbedTestStarted {
    pub run: String,
}
