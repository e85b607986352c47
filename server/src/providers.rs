//! The providers this server offers and where each one's authority is: Microsoft's from
//! configuration (a national cloud can be set there), the sandbox's under Mailkey's own URL when
//! the sandbox is on. Everything else about a provider is data in the app crate's presets.

use std::sync::Arc;

use mailkey_app::provider::{Provider, MICROSOFT_365, MICROSOFT_365_SANDBOX};

use crate::operator_app::OperatorApp;

#[derive(Clone, Debug)]
pub struct Providers {
    microsoft: String,
    /// `{public_url}/sandbox`, when the sandbox is on.
    sandbox: Option<String>,
    /// The operator's multi-tenant app of each provider that has one.
    microsoft_operator_app: Option<Arc<OperatorApp>>,
    sandbox_operator_app: Option<Arc<OperatorApp>>,
}

impl Providers {
    pub fn new(microsoft_authority: &str, sandbox_authority: Option<&str>) -> Providers {
        Providers {
            microsoft: microsoft_authority.trim_end_matches('/').to_string(),
            sandbox: sandbox_authority.map(|a| a.trim_end_matches('/').to_string()),
            microsoft_operator_app: None,
            sandbox_operator_app: None,
        }
    }

    /// With the operator's own apps: Microsoft 365's from configuration, the sandbox's from its
    /// directory.
    pub fn with_operator_apps(
        mut self,
        microsoft: Option<OperatorApp>,
        sandbox: Option<OperatorApp>,
    ) -> Providers {
        self.microsoft_operator_app = microsoft.map(Arc::new);
        self.sandbox_operator_app = sandbox.filter(|_| self.sandbox_on()).map(Arc::new);
        self
    }

    /// The operator's multi-tenant app for an offered provider, if it has one.
    pub fn operator_app(&self, provider_id: &str) -> Option<&OperatorApp> {
        match provider_id {
            id if id == MICROSOFT_365.id => self.microsoft_operator_app.as_deref(),
            id if id == MICROSOFT_365_SANDBOX.id => self.sandbox_operator_app.as_deref(),
            _ => None,
        }
    }

    /// The absolute authority of an offered provider.
    pub fn authority(&self, provider_id: &str) -> Option<&str> {
        match Provider::by_id(provider_id)? {
            p if p.is_local() => self.sandbox.as_deref(),
            p if p.id == MICROSOFT_365.id => Some(&self.microsoft),
            p => Some(p.authority),
        }
    }

    pub fn sandbox_on(&self) -> bool {
        self.sandbox.is_some()
    }

    pub fn offered(&self) -> Vec<&'static Provider> {
        mailkey_app::provider::PROVIDERS
            .into_iter()
            .filter(|p| self.authority(p.id).is_some())
            .collect()
    }
}
