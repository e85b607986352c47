//! The operator's "API keys" page: the keys host applications use on `/api/v1`, made, listed and
//! revoked in the portal (as with `mailkey api-key`). A new key's secret is shown once, on the
//! page the creation leads to, and never again.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::PortalError;

/// The scopes, as the form offers them: (id, form field, what it allows).
pub const SCOPES: [(&str, &str, &str); 4] = [
    (
        "accounts.read",
        "read_accounts",
        "Read organisations and accounts (their settings and state, never a secret)",
    ),
    (
        "accounts.write",
        "write_accounts",
        "Create, rename and delete organisations and accounts",
    ),
    (
        "tokens.issue",
        "issue_tokens",
        "Get access tokens for the mailboxes (what a host needs to send and read mail)",
    ),
    (
        "webhooks.manage",
        "manage_webhooks",
        "Manage webhook endpoints, see their deliveries and send test events",
    ),
];

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyView {
    pub id: String,
    pub name: String,
    pub scopes: Vec<String>,
    /// The organisation it is restricted to (its name), when it is.
    pub organisation: Option<String>,
    /// Seconds since the Unix epoch.
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// A key just made: its secret, shown this once.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevealedKey {
    pub name: String,
    pub secret: String,
}

/// Never the secret, wherever a value is printed.
impl std::fmt::Debug for RevealedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RevealedKey")
            .field("name", &self.name)
            .field("secret", &"(redacted)")
            .finish()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeysView {
    pub keys: Vec<ApiKeyView>,
    /// The organisations a key may be restricted to: (ID, name).
    pub organisations: Vec<(String, String)>,
    /// Keys this session just made, shown this once.
    pub revealed: Vec<RevealedKey>,
}

/// What the "New key" form sends.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewKeyInput {
    pub name: String,
    pub scopes: Vec<String>,
    /// Restricted to this organisation (its ID); `None` for every organisation.
    pub organisation: Option<String>,
}

#[server(prefix = "/_fn", endpoint = "api-keys")]
pub async fn api_keys() -> Result<ApiKeysView, PortalError> {
    let (backend, parts) = crate::backend::request_context()?;
    backend.0.api_keys(&parts).await
}

/// "Create key" (a plain form): makes the key, then shows the API keys page, where its secret
/// appears once.
#[server(prefix = "/_fn", endpoint = "api-keys/create")]
pub async fn create_api_key(
    #[server(default)] name: String,
    #[server(default)] read_accounts: Option<String>,
    #[server(default)] write_accounts: Option<String>,
    #[server(default)] issue_tokens: Option<String>,
    #[server(default)] manage_webhooks: Option<String>,
    #[server(default)] organisation: String,
) -> Result<(), PortalError> {
    let (backend, parts) = crate::backend::request_context()?;
    let scopes = [
        (read_accounts, "accounts.read"),
        (write_accounts, "accounts.write"),
        (issue_tokens, "tokens.issue"),
        (manage_webhooks, "webhooks.manage"),
    ]
    .into_iter()
    .filter(|(on, _)| on.is_some())
    .map(|(_, s)| s.to_string())
    .collect();
    let input = NewKeyInput {
        name,
        scopes,
        organisation: Some(organisation).filter(|o| !o.trim().is_empty()),
    };
    backend.0.create_api_key(&parts, input).await?;
    crate::backend::redirect("/api-keys#new-key");
    Ok(())
}

/// "Revoke": refused from the next request on, by every instance.
#[server(prefix = "/_fn", endpoint = "api-keys/revoke")]
pub async fn revoke_api_key(id: String) -> Result<(), PortalError> {
    let (backend, parts) = crate::backend::request_context()?;
    backend.0.revoke_api_key(&parts, id).await?;
    crate::backend::redirect("/api-keys?revoked=1");
    Ok(())
}
