//! API keys of host applications: made by the operator (`mailkey api-key create`), shown once,
//! stored as a SHA-256 hash, and checked on every `/api/v1` request, so a revocation counts from
//! the next request on every instance: a valid key is remembered only while the database's
//! revision (see [`crate::freshness`]) stays put. When a key was last used is kept in memory and
//! written in batches: no request waits on a database write.

use crate::sync::lock;
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::{
    freshness::{AtRevision, Freshness},
    storage::{now, ApiKeyRecord, NewApiKey, StorageError, Store},
};

/// Every key starts so, for secret scanners (GitHub's, GitGuardian's) to recognise a leaked one.
pub const KEY_PREFIX: &str = "mk_live_";
/// 256 random bits, base64url: 43 characters after the prefix.
const SECRET_CHARS: usize = 43;
/// How often the last-use times are written.
const FLUSH_EVERY: Duration = Duration::from_secs(30);

/// What a key may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// List and read organisations and accounts (never a secret).
    ReadAccounts,
    /// Create, rename and delete organisations and accounts.
    WriteAccounts,
    /// Get access tokens for accounts' mailboxes.
    IssueTokens,
    /// Manage webhook endpoints, see their deliveries, send test events.
    ManageWebhooks,
}

impl Scope {
    pub const ALL: [Scope; 4] = [
        Scope::ReadAccounts,
        Scope::WriteAccounts,
        Scope::IssueTokens,
        Scope::ManageWebhooks,
    ];

    /// As given to `mailkey api-key create --scope` and shown in lists.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::ReadAccounts => "accounts.read",
            Scope::WriteAccounts => "accounts.write",
            Scope::IssueTokens => "tokens.issue",
            Scope::ManageWebhooks => "webhooks.manage",
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// A key as a request carries it, checked.
#[derive(Clone, Debug)]
pub struct ApiKey {
    pub id: String,
    pub name: String,
    pub scopes: Vec<Scope>,
    /// The one organisation (Mailkey's ID) the key may see and touch, when restricted.
    pub organisation: Option<String>,
    /// The database's revision this request was checked at: what else it answers from memory
    /// must be as current.
    pub revision: i64,
}

/// The scopes of a stored key.
pub fn scopes_of(r: &ApiKeyRecord) -> Vec<Scope> {
    [
        (r.read_accounts, Scope::ReadAccounts),
        (r.write_accounts, Scope::WriteAccounts),
        (r.issue_tokens, Scope::IssueTokens),
        (r.manage_webhooks, Scope::ManageWebhooks),
    ]
    .into_iter()
    .filter_map(|(on, s)| on.then_some(s))
    .collect()
}

impl ApiKey {
    fn of(r: &ApiKeyRecord) -> ApiKey {
        ApiKey {
            id: r.id.clone(),
            name: r.name.clone(),
            scopes: scopes_of(r),
            organisation: r.organisation_id.clone(),
            revision: i64::MIN,
        }
    }

    pub fn may(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }
}

/// A new key's secret: shown once, never stored, never printed by `Debug`.
pub struct NewSecret(String);

impl NewSecret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for NewSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewSecret(<redacted>)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Missing, malformed, unknown or revoked: one answer for all, so it never says whether a
    /// key once existed.
    #[error("no valid API key")]
    Refused,
    #[error(
        "a key needs a name (1 to 80 characters on one line), e.g. --name \"Acme ERP production\""
    )]
    BadName,
    #[error("a key needs at least one scope: {}", Scope::ALL.map(Scope::as_str).join(", "))]
    NoScope,
    #[error(transparent)]
    Storage(#[from] StorageError),
}

#[derive(Clone)]
pub struct ApiKeys {
    store: std::sync::Arc<dyn crate::storage::ApiKeyStore>,
    freshness: Freshness,
    /// Key ID → when it was last used, not yet written.
    used: Arc<Mutex<HashMap<String, i64>>>,
    /// Valid keys by their hash, as of a revision: a request checks the revision, not the key.
    valid: Arc<Mutex<AtRevision<[u8; 32], ApiKey>>>,
}

impl std::fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKeys").finish_non_exhaustive()
    }
}

fn hash(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// Whether `presented` has a key's shape (before anything is looked up).
fn well_formed(presented: &str) -> bool {
    presented.strip_prefix(KEY_PREFIX).is_some_and(|rest| {
        rest.len() == SECRET_CHARS
            && rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

impl ApiKeys {
    pub fn new(store: Store, freshness: Freshness) -> ApiKeys {
        ApiKeys {
            store: store.backend(),
            freshness,
            used: Arc::default(),
            valid: Arc::default(),
        }
    }

    /// Makes a key with these scopes. The secret is returned once; only its hash is kept.
    pub async fn create(
        &self,
        name: &str,
        scopes: &[Scope],
    ) -> Result<(ApiKey, NewSecret), KeyError> {
        self.create_for(name, scopes, None).await
    }

    /// As [`ApiKeys::create`], restricted to one organisation (Mailkey's ID) when given.
    pub async fn create_for(
        &self,
        name: &str,
        scopes: &[Scope],
        organisation: Option<&str>,
    ) -> Result<(ApiKey, NewSecret), KeyError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 80 || name.contains(['\n', '\r']) {
            return Err(KeyError::BadName);
        }
        if scopes.is_empty() {
            return Err(KeyError::NoScope);
        }
        let mut raw = [0u8; 32];
        rand::rng().fill_bytes(&mut raw);
        let secret = format!("{KEY_PREFIX}{}", URL_SAFE_NO_PAD.encode(raw));
        let mut id_raw = [0u8; 8];
        rand::rng().fill_bytes(&mut id_raw);
        let id = format!(
            "key_{}",
            id_raw
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        );
        self.store
            .insert_api_key(NewApiKey {
                id: &id,
                name,
                key_hash: &hash(&secret),
                read_accounts: scopes.contains(&Scope::ReadAccounts),
                write_accounts: scopes.contains(&Scope::WriteAccounts),
                issue_tokens: scopes.contains(&Scope::IssueTokens),
                manage_webhooks: scopes.contains(&Scope::ManageWebhooks),
                organisation_id: organisation,
            })
            .await?;
        tracing::info!(key = %id, name, scopes = ?scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>(), "API key created");
        Ok((
            ApiKey {
                id,
                name: name.to_string(),
                scopes: scopes.to_vec(),
                organisation: organisation.map(str::to_string),
                revision: i64::MIN,
            },
            NewSecret(secret),
        ))
    }

    /// The key a request presents, if it is one and not revoked. A revocation counts from the
    /// next request, on every instance: a key known valid is taken from memory only while the
    /// database's revision, read after the request arrived, has not moved. The key is found by
    /// the SHA-256 of its 256 random bits: how long the look-up takes says nothing an attacker
    /// could use.
    pub async fn authenticate(&self, presented: &str) -> Result<ApiKey, KeyError> {
        if !well_formed(presented) {
            return Err(KeyError::Refused);
        }
        let digest = hash(presented);
        let revision = self.freshness.current().await?;
        let known = lock(&self.valid).get(revision, &digest);
        let mut key = match known {
            Some(key) => key,
            None => {
                let record = self
                    .store
                    .api_key_by_hash(&digest)
                    .await?
                    .ok_or(KeyError::Refused)?;
                if record.revoked_at.is_some() {
                    return Err(KeyError::Refused);
                }
                let key = ApiKey::of(&record);
                lock(&self.valid).put(revision, digest, key.clone());
                key
            }
        };
        lock(&self.used).insert(key.id.clone(), now());
        key.revision = revision;
        Ok(key)
    }

    pub async fn list(&self) -> Result<Vec<ApiKeyRecord>, KeyError> {
        Ok(self.store.api_keys().await?)
    }

    /// Revokes a key, and returns once every instance has taken it in: from then on the key
    /// is refused everywhere (see [`Freshness::settle`]).
    pub async fn revoke(&self, id: &str) -> Result<bool, KeyError> {
        let done = self.store.revoke_api_key(id).await?;
        if done {
            self.freshness.settle().await;
            tracing::info!(key = %id, "API key revoked");
        }
        Ok(done)
    }

    /// Writes the last-use times gathered since the previous call.
    pub async fn flush(&self) {
        let used: Vec<(String, i64)> = lock(&self.used).drain().collect();
        if used.is_empty() {
            return;
        }
        if let Err(e) = self.store.record_api_key_use(&used).await {
            tracing::warn!(error = %e, "cannot record when API keys were last used");
        }
    }

    /// Flushes every [`FLUSH_EVERY`] until the process stops.
    pub fn spawn_flush(&self) -> tokio::task::JoinHandle<()> {
        let keys = self.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(FLUSH_EVERY);
            loop {
                every.tick().await;
                keys.flush().await;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_keys_shape_is_looked_up() {
        let good = format!("{KEY_PREFIX}{}", "a".repeat(SECRET_CHARS));
        assert!(well_formed(&good));
        assert!(!well_formed("mk_live_short"));
        assert!(!well_formed(&good.replace("mk_live_", "sk_live_")));
        assert!(!well_formed(&format!("{good}x")));
        assert!(!well_formed(&format!(
            "{KEY_PREFIX}{}",
            "é".repeat(SECRET_CHARS)
        )));
    }

    #[test]
    fn a_new_secret_is_never_debug_printed() {
        let s = NewSecret(format!("{KEY_PREFIX}secret"));
        assert!(!format!("{s:?}").contains("secret"));
    }
}
