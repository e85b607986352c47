//! What the browser learns about signing in: the outcome of the last attempt, in plain words, and
//! the account's connection. The server decides these; the wizard only shows them.

use serde::{Deserialize, Serialize};

/// A failed sign-in explained: what happened, why it usually happens, and what to change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignInProblem {
    /// Microsoft's `AADSTS` number, when it gave one.
    pub code: Option<u32>,
    pub title: String,
    pub what: String,
    pub why: String,
    pub fix: String,
    /// The wizard step (number) where the fix is made, if it is made in Mailkey.
    pub step: Option<u8>,
    /// Consent is missing: offer the tenant's admin-consent link.
    pub admin_consent: bool,
    /// Someone else signed in: offer "sign in again as <this address>".
    pub sign_in_again_as: Option<String>,
    /// Microsoft's own words, first sentence only, for support tickets.
    pub detail: Option<String>,
}

/// How an attempt ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SignInOutcome {
    Connected { username: String },
    ConsentGranted,
    Failed { problem: SignInProblem },
}

/// An account's sign-in as the wizard and the account page show it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionStatus {
    /// `connected`, `needs_attention`, … (see `AccountState`).
    pub state: String,
    pub signed_in_as: Option<String>,
    /// Seconds since the Unix epoch.
    pub signed_in_at: Option<i64>,
    /// Why the account needs attention (a refresh was refused), if it does.
    pub problem: Option<SignInProblem>,
    /// The latest finished sign-in attempt from this browser: a cursor that tells it from the
    /// next one, when it finished (seconds since the epoch) and how. `None` while none has.
    pub last_attempt: Option<i64>,
    pub last_finished_at: Option<i64>,
    pub last_outcome: Option<SignInOutcome>,
    /// When the cached access token expires, if one is cached.
    pub access_token_expires_at: Option<i64>,
    pub refresh_token_stored: bool,
    /// What the tenant must allow, shown before signing in.
    pub prerequisites: Vec<crate::mail_test::Prerequisite>,
}
