//! The sandbox identity provider: a stand-in for the Microsoft identity platform v2 that speaks its
//! protocol, for tests and for trying Mailkey without a Microsoft tenant. Off unless `sandbox` is
//! set; announced in the log when on. Everything lives under `/sandbox`.
//!
//! It serves each tenant's openid-configuration, the sign-in page (authorize), the token
//! endpoint, admin consent and RFC 7662 introspection for the test mail servers; the directory
//! (tenants, apps, users, and the switches that make it refuse) comes from the sandbox file.

mod admin_consent;
mod authorize;
mod directory;
mod discovery_doc;
mod grants;
mod introspect;
mod jwt;
mod page;
mod protocol;
mod start_page;
mod token;

use std::sync::Arc;

use axum::{
    routing::{get, post},
    Router,
};

pub use directory::{Directory, DirectoryError, MultiTenantApp, DEMO_FILE};
pub use grants::{AddedSecret, Grants, IdTokenFault, RefreshUse, Session};
pub use protocol::parse_scopes;

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
    pub grants: Arc<Grants>,
}

impl Sandbox {
    pub fn new(directory: Directory, authority: String, source: String) -> Sandbox {
        let consented = directory.tenants.iter().flat_map(|t| {
            t.apps
                .iter()
                .filter(|a| a.admin_consented)
                .map(|a| (t.id.clone(), a.client_id.clone()))
        });
        let grants = Arc::new(Grants::new(consented.collect::<Vec<_>>()));
        Sandbox {
            directory: Arc::new(directory),
            authority,
            source,
            grants,
        }
    }
}

pub fn routes() -> Router<AppState> {
    let tenant = format!("{PREFIX}/{{tenant}}");
    Router::new()
        .route(PREFIX, get(start_page::show))
        .route(
            &format!("{tenant}/v2.0/.well-known/openid-configuration"),
            get(discovery_doc::openid_configuration),
        )
        .route(
            &format!("{tenant}/oauth2/v2.0/authorize"),
            get(authorize::show).post(authorize::decide),
        )
        .route(&format!("{tenant}/oauth2/v2.0/token"), post(token::token))
        .route(
            &format!("{tenant}/oauth2/v2.0/introspect"),
            post(introspect::introspect),
        )
        .route(
            &format!("{tenant}/v2.0/adminconsent"),
            get(admin_consent::show).post(admin_consent::decide),
        )
}
