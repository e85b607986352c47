//! The operator settings page's data: each provider's own multi-tenant app as the operator sees
//! it (never its secret) and the values its form sends.

use serde::{Deserialize, Serialize};

use crate::rules::Note;

/// Where the app in use came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AppOrigin {
    /// `operator_app_*` settings (mailkey.toml or environment).
    Configuration,
    /// Saved on the settings page; overrides the configuration.
    SettingsPage,
    /// The sandbox file's multi-tenant app.
    Sandbox,
}

impl AppOrigin {
    pub fn describe(self) -> &'static str {
        match self {
            AppOrigin::Configuration => "configuration (operator_app_* settings)",
            AppOrigin::SettingsPage => "this page",
            AppOrigin::Sandbox => "the sandbox file",
        }
    }
}

/// The settings page: this Mailkey's redirect URI (every app must list it) and each provider's app.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorSettingsView {
    pub redirect_uri: String,
    pub apps: Vec<OperatorAppView>,
}

/// One provider's operator app as the settings page shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorAppView {
    pub provider_id: String,
    pub provider_name: String,
    /// `None`: this provider has no operator app yet.
    pub app: Option<OperatorAppSummary>,
    /// Accounts that sign in with it.
    pub accounts: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorAppSummary {
    pub client_id: String,
    pub name: String,
    pub publisher: Option<String>,
    pub secret_expires: Option<String>,
    pub origin: AppOrigin,
    /// What the operator must hear about the secret's expiry today.
    pub expiry: Option<Note>,
}

/// The settings form's values, as typed. An empty secret keeps the stored one.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorAppInput {
    pub client_id: String,
    pub name: String,
    pub publisher: String,
    pub client_secret: String,
    pub secret_expires: String,
}

/// Never prints the secret (a `{:?}` in a log line must not leak it).
impl std::fmt::Debug for OperatorAppInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OperatorAppInput")
            .field("client_id", &self.client_id)
            .field("name", &self.name)
            .field("publisher", &self.publisher)
            .field("client_secret", &"[redacted]")
            .field("secret_expires", &self.secret_expires)
            .finish()
    }
}
