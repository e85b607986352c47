//! The providers this server offers and where each one's authority is: Microsoft's from
//! configuration (a national cloud can be set there), the sandbox's under Mailkey's own URL when
//! the sandbox is on. Everything else about a provider is data in the app crate's presets.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
};

use mailkey_app::provider::{Provider, MICROSOFT_365, MICROSOFT_365_SANDBOX};

use crate::operator_app::OperatorApp;

#[derive(Clone, Debug)]
pub struct Providers {
    microsoft: String,
    /// `{public_url}/sandbox`, when the sandbox is on.
    sandbox: Option<String>,
    /// The operator's multi-tenant app of each provider that has one, by provider ID. Shared by
    /// every clone and replaced from the settings page, so a rotated secret serves the next
    /// request without a restart.
    operator_apps: Arc<RwLock<HashMap<&'static str, Arc<OperatorApp>>>>,
}

impl Providers {
    pub fn new(microsoft_authority: &str, sandbox_authority: Option<&str>) -> Providers {
        Providers {
            microsoft: microsoft_authority.trim_end_matches('/').to_string(),
            sandbox: sandbox_authority.map(|a| a.trim_end_matches('/').to_string()),
            operator_apps: Arc::default(),
        }
    }

    /// With the operator's own apps: Microsoft 365's from configuration, the sandbox's from its
    /// directory.
    pub fn with_operator_apps(
        self,
        microsoft: Option<OperatorApp>,
        sandbox: Option<OperatorApp>,
    ) -> Providers {
        if let Some(app) = microsoft {
            self.set_operator_app(MICROSOFT_365.id, app);
        }
        if let Some(app) = sandbox.filter(|_| self.sandbox_on()) {
            self.set_operator_app(MICROSOFT_365_SANDBOX.id, app);
        }
        self
    }

    /// The operator's multi-tenant app for an offered provider, if it has one.
    pub fn operator_app(&self, provider_id: &str) -> Option<Arc<OperatorApp>> {
        self.operator_apps
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(provider_id)
            .cloned()
    }

    /// Sets (or replaces) a provider's operator app; a provider this server does not offer is
    /// ignored (an app saved for the sandbox stays unused while the sandbox is off).
    pub fn set_operator_app(&self, provider_id: &str, app: OperatorApp) {
        let Some(id) = self
            .offered()
            .into_iter()
            .map(|p| p.id)
            .find(|id| *id == provider_id)
        else {
            return;
        };
        self.operator_apps
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(id, Arc::new(app));
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
