//! What the sandbox has handed out: authorization codes, refresh tokens, consents, and the key
//! its access tokens are signed with. Kept in memory, like a test double of Entra's state: a
//! restart of Mailkey forgets them, so accounts signed in to the sandbox must sign in again.

use std::{
    collections::{HashMap, HashSet},
    sync::{
        atomic::{AtomicU64, Ordering},
        Mutex,
    },
};

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use rand::RngCore;
use serde_json::{json, Value};

use super::{jwt, protocol::Scopes};
use crate::now;

/// How long an authorization code can be redeemed (Microsoft: about 10 minutes).
pub const CODE_LIFETIME_SECS: i64 = 600;

/// Who signed in to which app with which scopes: what a code or refresh token stands for.
#[derive(Clone, Debug)]
pub struct Session {
    pub tenant_id: String,
    pub client_id: String,
    pub username: String,
    pub scopes: Scopes,
}

impl Session {
    pub fn belongs_to(&self, tenant: &str, client: &str) -> bool {
        self.tenant_id.eq_ignore_ascii_case(tenant) && self.client_id.eq_ignore_ascii_case(client)
    }
}

#[derive(Clone, Debug)]
pub struct CodeGrant {
    pub session: Session,
    pub redirect_uri: String,
    pub code_challenge: Option<String>,
    pub nonce: Option<String>,
    pub issued_at: i64,
    pub redeemed: bool,
}

#[derive(Clone, Debug)]
pub struct RefreshGrant {
    pub session: Session,
    pub issued_at: i64,
    /// Set once a newer token replaced this one; it then works for one more request.
    pub replaced: bool,
    pub uses_after_replacement: u32,
}

/// A way the sandbox's ID tokens can be wrong, to prove Mailkey refuses each: for another app
/// (`aud`), another sign-in (`nonce`), another organisation (`tid`), another authority (`iss`),
/// or already expired (`exp`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdTokenFault {
    WrongAudience,
    WrongNonce,
    WrongTenant,
    WrongIssuer,
    Expired,
}

/// A client secret added since the start (Entra's "New client secret"), for rotation tests.
#[derive(Clone, Debug)]
pub struct AddedSecret {
    pub client_id: String,
    pub secret: String,
    pub secret_id: String,
    pub expires: String,
}

/// What the token endpoint decides about a presented refresh token.
pub enum RefreshUse {
    Valid(Session, i64),
    Unknown,
    /// Replaced and already used once since.
    Spent,
}

pub struct Grants {
    state: Mutex<State>,
    /// Signs access tokens; new at every start.
    access_key: [u8; 32],
    /// Token requests answered, by grant type: tests count refreshes with it.
    refreshes: AtomicU64,
    code_redemptions: AtomicU64,
}

#[derive(Default)]
struct State {
    codes: HashMap<String, CodeGrant>,
    refresh: HashMap<String, RefreshGrant>,
    /// (tenant, client, username) → consented scope names.
    user_consents: HashMap<(String, String, String), HashSet<String>>,
    /// (tenant, client) granted by an admin for everyone.
    admin_consents: HashSet<(String, String)>,
    /// IDs of client secrets deleted since the start (Entra's "Certificates & secrets" →
    /// Delete), the last step of a rotation.
    removed_secrets: HashSet<String>,
    added_secrets: Vec<AddedSecret>,
    /// The ID tokens issued from now on are wrong in this way.
    id_token_fault: Option<IdTokenFault>,
    /// The token endpoint answers 429 with this `Retry-After` (seconds) until turned off.
    throttle: Option<u64>,
    /// The token endpoint waits this long before answering (a slow Microsoft, for races).
    token_delay: Option<std::time::Duration>,
    /// A refresh is decided at once (its refresh token rotated) and answered this much later,
    /// so a test can stop the instance waiting for the answer.
    refresh_answer_delay: Option<std::time::Duration>,
}

impl std::fmt::Debug for Grants {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Grants").finish_non_exhaustive()
    }
}

fn random_token(prefix: &str) -> String {
    let mut b = [0u8; 32];
    rand::rng().fill_bytes(&mut b);
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(b))
}

fn key(tenant: &str, client: &str) -> (String, String) {
    (tenant.to_ascii_lowercase(), client.to_ascii_lowercase())
}

impl Grants {
    pub fn new(admin_consented: impl IntoIterator<Item = (String, String)>) -> Grants {
        let mut access_key = [0u8; 32];
        rand::rng().fill_bytes(&mut access_key);
        let state = State {
            admin_consents: admin_consented
                .into_iter()
                .map(|(t, c)| key(&t, &c))
                .collect(),
            ..State::default()
        };
        Grants {
            state: Mutex::new(state),
            access_key,
            refreshes: AtomicU64::new(0),
            code_redemptions: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain maps behind, still consistent.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Deletes an app's client secret by its ID: the token endpoint refuses it from now on
    /// (AADSTS7000215), as Entra does once a secret is deleted.
    pub fn remove_secret(&self, secret_id: &str) {
        self.lock()
            .removed_secrets
            .insert(secret_id.to_ascii_lowercase());
    }

    /// Adds a client secret to an app (Entra's "New client secret"): valid alongside the others.
    pub fn add_secret(&self, added: AddedSecret) {
        self.lock().added_secrets.push(added);
    }

    /// The secrets added to `client_id` since the start, as (value, ID, expiry).
    pub fn added_secrets(&self, client_id: &str) -> Vec<(String, String, String)> {
        self.lock()
            .added_secrets
            .iter()
            .filter(|a| a.client_id.eq_ignore_ascii_case(client_id))
            .map(|a| (a.secret.clone(), a.secret_id.clone(), a.expires.clone()))
            .collect()
    }

    /// Makes the ID tokens issued from now on wrong in one way (`None`: right again).
    pub fn set_id_token_fault(&self, fault: Option<IdTokenFault>) {
        self.lock().id_token_fault = fault;
    }

    pub fn id_token_fault(&self) -> Option<IdTokenFault> {
        self.lock().id_token_fault
    }

    /// Makes the token endpoint answer `429 Too Many Requests` with `Retry-After: secs`, as
    /// Microsoft's throttling does (`None`: answers again).
    pub fn set_throttle(&self, retry_after_secs: Option<u64>) {
        self.lock().throttle = retry_after_secs;
    }

    pub fn throttle(&self) -> Option<u64> {
        self.lock().throttle
    }

    /// Makes the token endpoint wait before it answers (`None`: at once).
    pub fn set_token_delay(&self, delay: Option<std::time::Duration>) {
        self.lock().token_delay = delay;
    }

    pub fn token_delay(&self) -> Option<std::time::Duration> {
        self.lock().token_delay
    }

    pub fn set_refresh_answer_delay(&self, delay: Option<std::time::Duration>) {
        self.lock().refresh_answer_delay = delay;
    }

    pub fn refresh_answer_delay(&self) -> Option<std::time::Duration> {
        self.lock().refresh_answer_delay
    }

    pub fn is_secret_removed(&self, secret_id: &str) -> bool {
        self.lock()
            .removed_secrets
            .contains(&secret_id.to_ascii_lowercase())
    }

    /// Whether `session`'s scopes were consented to, by the user or for the whole tenant.
    pub fn has_consent(&self, s: &Session) -> bool {
        let st = self.lock();
        if st.admin_consents.contains(&key(&s.tenant_id, &s.client_id)) {
            return true;
        }
        let (t, c) = key(&s.tenant_id, &s.client_id);
        st.user_consents
            .get(&(t, c, s.username.to_ascii_lowercase()))
            .is_some_and(|given| s.scopes.granted.iter().all(|g| given.contains(g)))
    }

    pub fn consent_for_user(&self, s: &Session) {
        let (t, c) = key(&s.tenant_id, &s.client_id);
        self.lock()
            .user_consents
            .entry((t, c, s.username.to_ascii_lowercase()))
            .or_default()
            .extend(s.scopes.granted.iter().cloned());
    }

    pub fn consent_for_tenant(&self, tenant: &str, client: &str) {
        self.lock().admin_consents.insert(key(tenant, client));
    }

    pub fn issue_code(
        &self,
        session: Session,
        redirect_uri: &str,
        code_challenge: Option<String>,
        nonce: Option<String>,
    ) -> String {
        let code = random_token("sbx.code.");
        let mut st = self.lock();
        let t = now();
        st.codes
            .retain(|_, g| t - g.issued_at < CODE_LIFETIME_SECS * 2);
        st.codes.insert(
            code.clone(),
            CodeGrant {
                session,
                redirect_uri: redirect_uri.to_string(),
                code_challenge,
                nonce,
                issued_at: t,
                redeemed: false,
            },
        );
        code
    }

    /// Marks a code redeemed and returns it as it was (a redeemed one is refused by the caller).
    /// Redeems a code issued to `(tenant, client)`. A code of another app or tenant is left
    /// alone (`None`, as if unknown); otherwise it is marked redeemed and returned as it was, so
    /// the caller refuses one redeemed before.
    pub fn redeem_code(&self, code: &str, tenant: &str, client: &str) -> Option<CodeGrant> {
        self.code_redemptions.fetch_add(1, Ordering::Relaxed);
        let mut st = self.lock();
        let g = st.codes.get_mut(code)?;
        if !g.session.belongs_to(tenant, client) {
            return None;
        }
        let before = g.clone();
        g.redeemed = true;
        Some(before)
    }

    pub fn issue_refresh(&self, session: Session) -> String {
        let token = random_token("sbx.rt.");
        let mut st = self.lock();
        // Spent tokens and any older than Microsoft's longest lifetime are gone for good.
        let oldest = now() - 366 * 86_400;
        st.refresh
            .retain(|_, g| g.issued_at > oldest && !(g.replaced && g.uses_after_replacement >= 1));
        st.refresh.insert(
            token.clone(),
            RefreshGrant {
                session,
                issued_at: now(),
                replaced: false,
                uses_after_replacement: 0,
            },
        );
        token
    }

    /// Uses a refresh token: a replaced one works once more, as Microsoft's do.
    pub fn use_refresh(&self, token: &str, tenant: &str, client: &str) -> RefreshUse {
        self.refreshes.fetch_add(1, Ordering::Relaxed);
        let mut st = self.lock();
        let Some(g) = st
            .refresh
            .get_mut(token)
            .filter(|g| g.session.belongs_to(tenant, client))
        else {
            return RefreshUse::Unknown;
        };
        if g.replaced {
            if g.uses_after_replacement >= 1 {
                return RefreshUse::Spent;
            }
            g.uses_after_replacement += 1;
        }
        g.replaced = true;
        RefreshUse::Valid(g.session.clone(), g.issued_at)
    }

    /// The tenant a code was issued in (a request to `organizations` names none).
    pub fn code_tenant(&self, code: &str) -> Option<String> {
        self.lock()
            .codes
            .get(code)
            .map(|g| g.session.tenant_id.clone())
    }

    /// The tenant a refresh token was issued in.
    pub fn refresh_tenant(&self, token: &str) -> Option<String> {
        self.lock()
            .refresh
            .get(token)
            .map(|g| g.session.tenant_id.clone())
    }

    /// Authorization-code redemptions received since start.
    pub fn code_requests(&self) -> u64 {
        self.code_redemptions.load(Ordering::Relaxed)
    }

    /// Refresh-token requests received since start.
    pub fn refresh_requests(&self) -> u64 {
        self.refreshes.load(Ordering::Relaxed)
    }

    /// An access token for `session` that expires `lifetime_secs` from now (negative: already
    /// expired, for tests).
    pub fn mint_access_token(&self, session: &Session, issuer: &str, lifetime_secs: i64) -> String {
        let t = now();
        let claims = json!({
            "aud": session.scopes.resource.clone().unwrap_or_default(),
            "iss": issuer,
            "iat": t,
            "nbf": t,
            "exp": t + lifetime_secs,
            "tid": session.tenant_id,
            "appid": session.client_id,
            "upn": session.username,
            "unique_name": session.username,
            "scp": session.scopes.scp(),
            "ver": "1.0",
            "jti": random_token(""),
        });
        jwt::sign(&claims, &self.access_key)
    }

    /// RFC 7662: what an access token says, if it is ours and still valid.
    pub fn introspect(&self, token: &str) -> Option<Value> {
        let claims = jwt::verify(token, &self.access_key)?;
        let exp = claims["exp"].as_i64()?;
        if exp <= now() {
            return None;
        }
        Some(claims)
    }
}
