//! What the token endpoint answers besides the token: the account's organisation (who may ask),
//! its mailbox and the servers and scopes to use it with. Kept in memory as of the database's
//! revision (see [`crate::freshness`]), so a cached token is handed out without a database
//! look-up, and an account moved, changed or deleted anywhere is read afresh on the next
//! request.

use crate::sync::lock;
use std::sync::{Arc, Mutex};

use mailkey_app::{api::MailServers, draft::MailboxSettings};

use crate::{
    freshness::{AtRevision, Freshness},
    storage::{StorageError, Store},
};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenView {
    pub organisation_id: String,
    pub mailbox: String,
    /// `None` while the mailbox settings are not complete.
    pub servers: Option<MailServers>,
    /// The resource scopes the token is asked for (not `offline_access` and the like).
    pub scopes: Vec<String>,
}

#[derive(Clone)]
pub struct TokenViews {
    store: std::sync::Arc<dyn crate::storage::AccountStore>,
    freshness: Freshness,
    cache: Arc<Mutex<AtRevision<String, Option<Arc<TokenView>>>>>,
}

impl std::fmt::Debug for TokenViews {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenViews").finish_non_exhaustive()
    }
}

impl TokenViews {
    pub fn new(store: Store, freshness: Freshness) -> TokenViews {
        TokenViews {
            store: store.backend(),
            freshness,
            cache: Arc::default(),
        }
    }

    pub fn freshness(&self) -> &Freshness {
        &self.freshness
    }

    /// The account's view as of `revision` (read after the request arrived); `None`: there is
    /// no such account.
    pub async fn get(
        &self,
        id: &str,
        revision: i64,
    ) -> Result<Option<Arc<TokenView>>, StorageError> {
        let known = lock(&self.cache).get(revision, &id.to_string());
        if let Some(view) = known {
            return Ok(view);
        }
        let view = match self.store.token_view(id).await? {
            None => None,
            Some(r) => {
                let settings: Option<MailboxSettings> = r.mailbox;
                Some(Arc::new(TokenView {
                    organisation_id: r.organisation_id,
                    mailbox: r.email.trim().to_string(),
                    servers: settings.as_ref().and_then(MailServers::of),
                    scopes: settings
                        .map(|m| {
                            m.scopes
                                .split_whitespace()
                                .filter(|s| s.contains('/'))
                                .map(str::to_string)
                                .collect()
                        })
                        .unwrap_or_default(),
                }))
            }
        };
        // "No such account" is not kept: an account made since must be found (making one does
        // not move the revision).
        if let Some(v) = &view {
            lock(&self.cache).put(revision, id.to_string(), Some(v.clone()));
        }
        Ok(view)
    }
}
