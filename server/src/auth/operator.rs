//! Who may use the portal. There are no passwords: the operator proves access to the server (its
//! log, or a shell that can run `mailkey admin link`) and receives a one-time link that opens a
//! server-side session.

use url::Url;

use super::token::{self, Token};
use crate::storage::{self, StorageError, Store};

/// How long an unused setup link stays valid.
pub const SETUP_LINK_LIFETIME_SECS: i64 = 24 * 3600;
/// How long a session lasts before the operator needs a new link.
pub const SESSION_LIFETIME_SECS: i64 = 7 * 24 * 3600;
/// The path a setup link points at.
pub const SETUP_PATH: &str = "/setup";

/// Attached to requests that carry a live operator session.
#[derive(Clone, Debug)]
pub struct OperatorSession {
    pub signed_in_at: i64,
    /// SHA-256 of the session cookie: names this browser's session without being able to open
    /// it. Sign-in attempts are bound to it.
    pub id_hash: [u8; 32],
}

#[derive(Clone, Debug)]
pub struct OperatorAccess {
    store: std::sync::Arc<dyn crate::storage::OperatorSessionStore>,
    /// Shared: the session check clones this on every request.
    public_url: std::sync::Arc<Url>,
}

impl OperatorAccess {
    pub fn new(store: Store, public_url: Url) -> OperatorAccess {
        OperatorAccess {
            store: store.backend(),
            public_url: std::sync::Arc::new(public_url),
        }
    }

    /// Whether cookies must be `Secure` (the portal is served over https).
    pub fn secure_cookies(&self) -> bool {
        self.public_url.scheme() == "https"
    }

    /// Creates a fresh one-time link that signs the operator in.
    pub async fn new_setup_link(&self) -> Result<Url, StorageError> {
        let token = Token::generate();
        let now = storage::now();
        self.store
            .insert_setup_link(&token.hash(), now, now + SETUP_LINK_LIFETIME_SECS)
            .await?;
        let mut url = self
            .public_url
            .join(SETUP_PATH)
            .expect("a fixed path joins any base URL");
        url.query_pairs_mut().append_pair("token", token.expose());
        Ok(url)
    }

    /// Redeems a setup link. On success returns the new session's cookie value; a link that is
    /// unknown, already used or expired returns `None` and changes nothing.
    pub async fn redeem(&self, presented: &str) -> Result<Option<Token>, StorageError> {
        let session = Token::generate();
        let now = storage::now();
        let opened = self
            .store
            .redeem_setup_link(
                &token::hash(presented),
                &session.hash(),
                now,
                now + SESSION_LIFETIME_SECS,
            )
            .await?;
        Ok(opened.then_some(session))
    }

    pub async fn session(
        &self,
        cookie_value: &str,
    ) -> Result<Option<OperatorSession>, StorageError> {
        Ok(self
            .store
            .find_session(&token::hash(cookie_value), storage::now())
            .await?
            .map(|r| OperatorSession {
                signed_in_at: r.created_at,
                id_hash: token::hash(cookie_value),
            }))
    }

    pub async fn sign_out(&self, cookie_value: &str) -> Result<(), StorageError> {
        self.store.delete_session(&token::hash(cookie_value)).await
    }

    /// Called at start: when nobody holds a session, the operator needs a link to get in.
    pub async fn needs_setup_link(&self) -> Result<bool, StorageError> {
        let now = storage::now();
        self.store.purge_expired_operator_access(now).await?;
        Ok(!self.store.has_live_session(now).await?)
    }
}
