//! The operator settings page's work: the operator's multi-tenant app of each provider, shown
//! without its secret and replaced from the page. A saved app is sealed into the database and
//! overrides the configuration's from then on (also after a restart), so a secret is rotated
//! without restarting and without any account signing in again: accounts read the operator's
//! app at every sign-in and refresh.

use mailkey_app::{
    operator_settings::{AppOrigin, OperatorAppInput, OperatorAppSummary, OperatorAppView},
    provider::Provider,
    rules::{
        dates::Day,
        identifiers::tidy,
        operator_app::{check_operator_app, expiry_notice},
        Findings, Note,
    },
};
use std::sync::Arc;

use secrecy::SecretString;

use crate::{
    operator_app::OperatorApp,
    providers::Providers,
    secrets::{Aad, Sealer},
    storage::{now, OperatorAppRecord, StorageError, Store},
};

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("the values are not valid")]
    Invalid(Findings),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

pub fn operator_secret_aad(provider: &str) -> Aad<'_> {
    Aad {
        table: "operator_apps",
        row: provider,
        field: "client_secret",
    }
}

fn refusal(field: &str, message: String) -> SettingsError {
    SettingsError::Invalid(Findings::error(field, message))
}

fn optional(s: &str) -> Option<String> {
    Some(s.trim().to_string()).filter(|s| !s.is_empty())
}

#[derive(Clone, Debug)]
pub struct OperatorSettings {
    store: Store,
    sealer: Sealer,
    providers: Providers,
    /// One save at a time: the database and the app in use change together, and the check
    /// that no account uses an app whose client ID changes holds until it is saved.
    saving: Arc<tokio::sync::Mutex<()>>,
}

impl OperatorSettings {
    pub fn new(store: Store, sealer: Sealer, providers: Providers) -> OperatorSettings {
        OperatorSettings {
            store,
            sealer,
            providers,
            saving: Arc::default(),
        }
    }

    /// At start: the apps saved on the page replace the configuration's. (Start-up already
    /// refused a master key that cannot open them; one that still fails is logged and left out,
    /// so the configuration's stays in use.)
    pub async fn load_saved(&self) -> Result<(), StorageError> {
        self.apply_saved(true).await
    }

    /// Follows apps saved on the settings page of another instance on the same database: looks
    /// every `every` whether one changed, and uses it (waking the token upkeep, which retries
    /// the accounts the old secret left refused) without a restart.
    pub fn spawn_follow(
        &self,
        every: std::time::Duration,
        tokens: crate::tokens::TokenKeeper,
    ) -> tokio::task::JoinHandle<()> {
        let settings = self.clone();
        tokio::spawn(async move {
            // Nothing seen yet: the first look applies what is saved. Taking the versions as
            // "seen" when the task first runs would skip a save that landed between start-up's
            // load and that first run (a test saw it on a loaded machine).
            let mut seen = None;
            loop {
                tokio::time::sleep(every).await;
                let now = match settings.store.operator_app_versions().await {
                    Ok(v) => v,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot look for operator apps saved elsewhere");
                        continue;
                    }
                };
                if seen.as_ref() == Some(&now) {
                    continue;
                }
                seen = Some(now);
                match settings.apply_saved(false).await {
                    Ok(()) => tokens.wake_upkeep(),
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot load the operator apps saved elsewhere")
                    }
                }
            }
        })
    }

    /// Uses the saved apps; `at_start` says which configured ones they replace.
    async fn apply_saved(&self, at_start: bool) -> Result<(), StorageError> {
        for r in self.store.operator_apps().await? {
            match self
                .sealer
                .open(&r.sealed_secret, &operator_secret_aad(&r.provider))
            {
                Ok(secret) => {
                    if let Some(configured) = self
                        .providers
                        .operator_app(&r.provider)
                        .filter(|_| at_start)
                    {
                        tracing::warn!(
                            provider = %r.provider,
                            configured_client_id = %configured.client_id,
                            saved_client_id = %r.client_id,
                            ignored = configured.origin.describe(),
                            "the operator app saved on the settings page is used, not the one \
                             from the configuration or sandbox file (change it on the settings \
                             page)"
                        );
                    }
                    self.providers
                        .set_operator_app(&r.provider, Self::app_of(&r, secret))
                }
                Err(e) => tracing::error!(
                    provider = %r.provider,
                    error = %e,
                    "the operator app saved on the settings page cannot be opened; using the configuration's"
                ),
            }
        }
        Ok(())
    }

    fn app_of(r: &OperatorAppRecord, secret: SecretString) -> OperatorApp {
        OperatorApp {
            client_id: r.client_id.clone(),
            secret,
            secret_expires: r.secret_expires.clone(),
            name: r
                .name
                .clone()
                .unwrap_or_else(|| OperatorApp::DEFAULT_NAME.into()),
            publisher: r.publisher.clone(),
            origin: AppOrigin::SettingsPage,
        }
    }

    /// Every offered provider, with its app if it has one.
    pub async fn overview(&self, today: Day) -> Result<Vec<OperatorAppView>, StorageError> {
        let mut views = Vec::new();
        for p in self.providers.offered() {
            let app = self
                .providers
                .operator_app(p.id)
                .map(|a| OperatorAppSummary {
                    client_id: a.client_id.clone(),
                    name: a.name.clone(),
                    publisher: a.publisher.clone(),
                    secret_expires: a.secret_expires.clone(),
                    origin: a.origin,
                    expiry: expiry_notice(&a.name, a.secret_expires.as_deref(), today),
                });
            views.push(OperatorAppView {
                provider_id: p.id.to_string(),
                provider_name: p.name.to_string(),
                app,
                accounts: self.store.operator_app_accounts(p.id).await?,
            });
        }
        Ok(views)
    }

    /// What every page tells the operator: a secret that has expired or expires soon. (An
    /// unknown expiry is said on the settings page only.)
    pub fn notices(&self, today: Day) -> Vec<Note> {
        self.providers
            .offered()
            .into_iter()
            .filter_map(|p| self.providers.operator_app(p.id))
            .filter_map(|a| {
                let expires = a.secret_expires.as_deref()?;
                expiry_notice(&a.name, Some(expires), today)
            })
            .collect()
    }

    /// Saves a provider's app from the page. Nothing changes unless every value passes.
    pub async fn save(&self, provider_id: &str, v: OperatorAppInput) -> Result<(), SettingsError> {
        let Some(provider) = self
            .providers
            .offered()
            .into_iter()
            .find(|p| p.id == provider_id)
        else {
            return Err(refusal(
                "provider",
                format!("This Mailkey does not offer the provider \"{provider_id}\"."),
            ));
        };
        let _one_at_a_time = self.saving.lock().await;
        let current = self.providers.operator_app(provider.id);
        let findings = check_operator_app(&v, current.is_some());
        if findings.has_errors() {
            return Err(SettingsError::Invalid(findings));
        }
        let client_id = tidy(&v.client_id).to_ascii_lowercase();
        let new_secret = optional(&v.client_secret);
        if let Some(current) = &current {
            if !current.client_id.eq_ignore_ascii_case(&client_id) {
                self.check_new_client_id(provider, current, new_secret.is_some())
                    .await?;
            }
        }
        let secret: SecretString = match (new_secret, &current) {
            (Some(s), _) => s.into(),
            (None, Some(c)) => c.secret.clone(),
            // The rules already refused an empty secret without a stored one.
            (None, None) => return Err(refusal("client_secret", "Enter the secret.".into())),
        };
        let record = OperatorAppRecord {
            provider: provider.id.to_string(),
            client_id,
            sealed_secret: self.sealer.seal(
                secrecy::ExposeSecret::expose_secret(&secret),
                &operator_secret_aad(provider.id),
            ),
            secret_expires: optional(&v.secret_expires),
            name: optional(&v.name),
            publisher: optional(&v.publisher),
            updated_at: now(),
        };
        self.store.save_operator_app(&record).await?;
        let replaced = optional(&v.client_secret).is_some();
        self.providers
            .set_operator_app(provider.id, Self::app_of(&record, secret));
        // Accounts whose refresh was refused while the old secret failed may try the new one
        // at once, instead of at the end of their backoff.
        let released = if replaced {
            self.store.clear_operator_refresh_waits(provider.id).await?
        } else {
            0
        };
        tracing::info!(
            accounts_released = released,
            provider = %provider.id,
            client_id = %record.client_id,
            secret_replaced = replaced,
            "operator app saved on the settings page"
        );
        Ok(())
    }

    /// Another client ID is another app: accounts' refresh tokens belong to the old one, and
    /// the old app's secret is not the new one's.
    async fn check_new_client_id(
        &self,
        provider: &Provider,
        current: &OperatorApp,
        secret_given: bool,
    ) -> Result<(), SettingsError> {
        let accounts = self.store.operator_app_accounts(provider.id).await?;
        if accounts > 0 {
            return Err(refusal(
                "client_id",
                format!(
                    "{accounts} account(s) sign in with {} ({}). Their sign-ins belong to that \
                     app, so another client ID would disconnect every one of them. Keep this \
                     client ID; to rotate the secret, only paste the new secret value.",
                    current.name, current.client_id
                ),
            ));
        }
        if !secret_given {
            return Err(refusal(
                "client_secret",
                "A new client ID needs that app's own secret: paste its value too.".into(),
            ));
        }
        Ok(())
    }
}
