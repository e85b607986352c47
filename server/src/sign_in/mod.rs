//! Signing the mailbox in: the authorization request (PKCE S256, single-use `state` bound to the
//! browser and account, `nonce`, `login_hint`), the callback that checks `state` before anything
//! else and exchanges the code with the client secret, and what is kept afterwards (the refresh
//! token, sealed). Only the server ever sees a code, secret or token.

mod account_app;
mod flow;
mod http;
mod id_token;
pub mod problems;

pub use account_app::{refresh_token_aad, AccountApp, OAuthClient, TokenAnswer};
pub use flow::{
    Finished, Mode, Purpose, SignIn, StateRefusal, SHARED_LINK_LIFETIME_SECS, STATE_LIFETIME_SECS,
};
pub use http::{HttpFailure, OAuthHttp};

use mailkey_app::draft::Step;

use crate::storage::StorageError;

#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    #[error("no such account")]
    NotFound,
    #[error("the account's setup is not finished (step {})", .0.number())]
    NotReady(Step),
    #[error("this account uses {0}, which this Mailkey no longer offers")]
    ProviderOff(&'static str),
    #[error("this account signs in with the operator's own app for {0}, which is no longer configured (operator_app_client_id)")]
    OperatorAppOff(&'static str),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("a stored secret cannot be opened with the master key")]
    Seal,
    #[error("the account's stored settings cannot be read: {0}")]
    Corrupt(String),
}
