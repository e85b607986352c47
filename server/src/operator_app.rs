//! The operator's own multi-tenant app: one registration for every customer, who signs in and
//! consents instead of registering an app (the Salesorder way). For Microsoft 365 it comes from
//! configuration; for the sandbox provider, from the sandbox's multi-tenant app; either is
//! replaced by the one saved on the settings page (see `operator_settings`).

use mailkey_app::operator_settings::AppOrigin;
use secrecy::SecretString;

use crate::{config::OperatorAppConfig, sandbox::MultiTenantApp};

#[derive(Clone)]
pub struct OperatorApp {
    pub client_id: String,
    pub secret: SecretString,
    /// `YYYY-MM-DD`, when known.
    pub secret_expires: Option<String>,
    /// As customers see it: "Use <name>'s app".
    pub name: String,
    pub publisher: Option<String>,
    pub origin: AppOrigin,
}

impl std::fmt::Debug for OperatorApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OperatorApp")
            .field("client_id", &self.client_id)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl OperatorApp {
    /// What customers read ("Use this Mailkey's app") when the operator gave no name.
    pub const DEFAULT_NAME: &'static str = "this Mailkey";

    pub fn from_config(c: &OperatorAppConfig) -> OperatorApp {
        OperatorApp {
            client_id: c.client_id.clone(),
            secret: c.client_secret.clone(),
            secret_expires: c.secret_expires.clone(),
            name: c.name.clone().unwrap_or_else(|| Self::DEFAULT_NAME.into()),
            publisher: c.publisher.clone(),
            origin: AppOrigin::Configuration,
        }
    }

    /// The sandbox's multi-tenant app, with its newest secret (the last one listed).
    pub fn from_sandbox(a: &MultiTenantApp) -> Option<OperatorApp> {
        let secret = a.secrets.last()?;
        Some(OperatorApp {
            client_id: a.client_id.clone(),
            secret: secret.secret.clone().into(),
            secret_expires: Some(secret.expires.clone()),
            name: a.display_name.clone(),
            publisher: Some(a.publisher.clone()).filter(|p| !p.is_empty()),
            origin: AppOrigin::Sandbox,
        })
    }
}
