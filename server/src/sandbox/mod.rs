//! The sandbox identity provider: a stand-in for the Microsoft identity platform v2 that speaks its
//! protocol, for tests and for trying Mailkey without a Microsoft tenant. Off unless `sandbox` is
//! set; announced in the log when on. Everything lives under `/sandbox`.
//!
//! This first part serves the directory (tenants, apps, users), the start page and each tenant's
//! openid-configuration, so tenant discovery works against it; authorize, token, admin consent
//! and introspection follow with sign-in.

mod directory;
mod discovery_doc;
mod start_page;

use std::sync::Arc;

use axum::{routing::get, Router};

pub use directory::{Directory, DirectoryError, DEMO_FILE};

use crate::state::AppState;

/// The path every sandbox endpoint lives under.
pub const PREFIX: &str = "/sandbox";

#[derive(Clone, Debug)]
pub struct Sandbox {
    pub directory: Arc<Directory>,
    /// `{public_url}/sandbox`: the sandbox's authority, as `https://login.microsoftonline.com`
    /// is Microsoft's.
    pub authority: String,
    /// Where the directory came from, for the start page.
    pub source: String,
}

pub fn routes() -> Router<AppState> {
    Router::new().route(PREFIX, get(start_page::show)).route(
        &format!("{PREFIX}/{{tenant}}/v2.0/.well-known/openid-configuration"),
        get(discovery_doc::openid_configuration),
    )
}
