//! The portal's API keys page, on the server: the same [`ApiKeys`] service as the CLI and the
//! API. A new key's secret waits, for this browser session only and for ten minutes at most, for
//! the page the creation leads to, which shows it once.

use crate::sync::lock;
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use mailkey_app::{
    api_keys::{ApiKeyView, ApiKeysView, NewKeyInput, RevealedKey},
    error::PortalError,
    rules::Findings,
};
use secrecy::{ExposeSecret, SecretString};

use crate::{
    api_keys::{ApiKeys, KeyError, Scope},
    auth::OperatorSession,
    storage::Store,
};

const REVEAL_FOR: Duration = Duration::from_secs(600);

/// A new key not yet shown: its name, secret and when it was made.
type Pending = (String, SecretString, Instant);

/// New keys' secrets not yet shown, by the browser session that made them (several, for a
/// double click). Kept in this process only: with several instances, the operator's session
/// must stay on one (as it does behind a proxy with sticky sessions), else a new key's secret
/// is not shown and the key is revoked and made again.
#[derive(Clone, Default)]
pub struct Reveals(Arc<Mutex<HashMap<[u8; 32], Vec<Pending>>>>);

impl Reveals {
    fn put(&self, session: &OperatorSession, name: String, secret: SecretString) {
        let mut m = lock(&self.0);
        m.retain(|_, keys| {
            keys.retain(|(_, _, at)| at.elapsed() < REVEAL_FOR);
            !keys.is_empty()
        });
        m.entry(session.id_hash)
            .or_default()
            .push((name, secret, Instant::now()));
    }

    fn take(&self, session: &OperatorSession) -> Vec<RevealedKey> {
        let mut m = lock(&self.0);
        m.remove(&session.id_hash)
            .unwrap_or_default()
            .into_iter()
            .filter(|(_, _, at)| at.elapsed() < REVEAL_FOR)
            .map(|(name, secret, _)| RevealedKey {
                name,
                secret: secret.expose_secret().to_string(),
            })
            .collect()
    }
}

pub async fn page(
    keys: &ApiKeys,
    store: &Store,
    reveals: &Reveals,
    session: &OperatorSession,
) -> Result<ApiKeysView, PortalError> {
    let organisations = store
        .organisations(None)
        .await
        .map_err(|e| storage(e.into()))?;
    let name_of = |id: &str| {
        organisations
            .iter()
            .find(|o| o.id == id)
            .map(|o| o.name.clone())
    };
    let records = keys.list().await.map_err(storage)?;
    let keys = records
        .into_iter()
        .map(|r| ApiKeyView {
            scopes: crate::api_keys::scopes_of(&r)
                .into_iter()
                .map(|s| s.as_str().to_string())
                .collect(),
            organisation: r
                .organisation_id
                .as_deref()
                .map(|id| name_of(id).unwrap_or_else(|| format!("{id} (deleted)"))),
            id: r.id,
            name: r.name,
            created_at: r.created_at,
            last_used_at: r.last_used_at,
            revoked_at: r.revoked_at,
        })
        .collect();
    Ok(ApiKeysView {
        keys,
        organisations: organisations
            .iter()
            .map(|o| (o.id.clone(), o.name.clone()))
            .collect(),
        revealed: reveals.take(session),
    })
}

pub async fn create(
    keys: &ApiKeys,
    store: &Store,
    reveals: &Reveals,
    session: &OperatorSession,
    input: NewKeyInput,
) -> Result<(), PortalError> {
    let scopes: Vec<Scope> = input
        .scopes
        .iter()
        .filter_map(|s| Scope::parse(s))
        .collect();
    if let Some(org) = &input.organisation {
        let known = store
            .organisation(org, None)
            .await
            .map_err(|e| storage(e.into()))?;
        if known.is_none() {
            return Err(invalid(
                "organisation",
                "This organisation does not exist (any more): choose another, or every organisation.",
            ));
        }
    }
    let (key, secret) = keys
        .create_for(&input.name, &scopes, input.organisation.as_deref())
        .await
        .map_err(|e| match e {
            KeyError::BadName => invalid(
                "name",
                "Give the key a name that says who uses it, 1 to 80 characters (e.g. \"Acme ERP production\").",
            ),
            KeyError::NoScope => invalid(
                "scopes",
                "Choose at least one thing the key may do; a host that sends mail needs \"Get access tokens\".",
            ),
            other => storage(other),
        })?;
    tracing::info!(key = %key.id, "API key created in the portal");
    reveals.put(
        session,
        key.name,
        SecretString::from(secret.expose().to_string()),
    );
    Ok(())
}

/// Revoking is idempotent: a key revoked already (a second click, another tab) or unknown is
/// refused as much as it will ever be, so the page just shows the list again.
pub async fn revoke(keys: &ApiKeys, id: &str) -> Result<(), PortalError> {
    keys.revoke(id).await.map_err(storage)?;
    Ok(())
}

fn invalid(field: &str, message: &str) -> PortalError {
    if !crate::portal::send_back_plain_form() {
        mailkey_app::backend::set_status(422);
    }
    PortalError::Invalid(Findings::error(field, message))
}

fn storage(e: KeyError) -> PortalError {
    tracing::error!(error = %e, "API keys: storage failed");
    PortalError::storage_unavailable()
}
