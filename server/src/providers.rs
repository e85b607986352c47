//! The providers this server offers and where each one's authority is: Microsoft's from
//! configuration (a national cloud can be set there), the sandbox's under Mailkey's own URL when
//! the sandbox is on. Everything else about a provider is data in the app crate's presets.

use mailkey_app::provider::{Provider, MICROSOFT_365};

#[derive(Clone, Debug)]
pub struct Providers {
    microsoft: String,
    /// `{public_url}/sandbox`, when the sandbox is on.
    sandbox: Option<String>,
}

impl Providers {
    pub fn new(microsoft_authority: &str, sandbox_authority: Option<&str>) -> Providers {
        Providers {
            microsoft: microsoft_authority.trim_end_matches('/').to_string(),
            sandbox: sandbox_authority.map(|a| a.trim_end_matches('/').to_string()),
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
