//! The sandbox identity provider: a stand-in for the Microsoft identity platform v2 that speaks its
//! protocol, for tests and for trying Mailkey without a Microsoft tenant. A crate of its own: it
//! needs nothing of Mailkey's server (no storage, no sessions), which mounts its routes only when
//! the sandbox is on and runs it alone as `mailkey sandbox`. Everything lives under `/sandbox`.
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
    extract::FromRef,
    routing::{get, post},
    Router,
};

pub use directory::{Directory, DirectoryError, MultiTenantApp, DEMO_FILE};
pub use grants::{AddedSecret, Grants, IdTokenFault, RefreshUse, Session};
pub use protocol::parse_scopes;

/// Seconds since the Unix epoch.
pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

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
    /// The sandbox of the directory in `file` (its `{public_url}` standing for `mailkey_url`),
    /// else the demo directory kept in `data_dir`, whose apps accept Mailkey's callback
    /// (`{mailkey_url}{callback_path}`). Its
    /// authority is `{own_url}/sandbox`: Mailkey's own URL when it serves the sandbox itself,
    /// the standalone sandbox's otherwise.
    pub fn open(
        file: Option<&std::path::Path>,
        data_dir: &std::path::Path,
        mailkey_url: &str,
        own_url: &str,
        callback_path: &str,
    ) -> Result<Sandbox, DirectoryError> {
        let mailkey = mailkey_url.trim_end_matches('/');
        let redirect_uri = format!("{mailkey}{callback_path}");
        let (directory, source) = match file {
            Some(path) => (
                Directory::load(path)?.with_public_url(mailkey),
                format!("the sandbox file {}", path.display()),
            ),
            None => (
                Directory::demo(data_dir, &redirect_uri)?,
                format!(
                    "the generated demo ({})",
                    data_dir.join(DEMO_FILE).display()
                ),
            ),
        };
        let authority = format!("{}{PREFIX}", own_url.trim_end_matches('/'));
        Ok(Sandbox::new(directory, authority, source))
    }

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

/// What the sandbox's handlers need: the sandbox itself (`None` while it is off, when they
/// answer 404) and the stylesheet its pages use. Mailkey's own state provides it, and so does
/// the standalone sandbox (`mailkey sandbox`), which has nothing else.
#[derive(Clone)]
pub struct SandboxState {
    pub sandbox: Option<Sandbox>,
    pub css_href: Arc<str>,
}

pub fn routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    SandboxState: FromRef<S>,
{
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
