//! `mailkey sandbox`: the sandbox identity provider alone, on an address of its own, so that
//! several Mailkey instances (each with `sandbox_url` pointing here) sign in and refresh against
//! one identity provider, as they would against Microsoft. Its grants live in this process, as
//! Microsoft's live in Microsoft; nothing here touches a Mailkey database.

use std::{future::Future, net::SocketAddr, path::PathBuf, sync::Arc};

use axum::{extract::Request, response::IntoResponse, routing::get};
use tokio::net::TcpListener;
use url::Url;

use crate::http::assets::{BuildManifest, StaticAssets};
use mailkey_sandbox::{routes, DirectoryError, Sandbox, SandboxState, PREFIX};

/// What the standalone sandbox is told.
pub struct StandaloneOptions {
    /// Its own address as Mailkey instances reach it (default: `http://<bound address>`).
    pub public_url: Option<Url>,
    /// The public URL of the Mailkey instances that sign in here: the demo directory's apps
    /// accept `{mailkey_url}/oauth/callback`, and a sandbox file's `{public_url}` stands for it.
    pub mailkey_url: Url,
    pub sandbox_file: Option<PathBuf>,
    /// Where the demo directory is generated once when there is no sandbox file.
    pub data_dir: PathBuf,
    /// Mailkey's built site, for the stylesheet of the sandbox's pages.
    pub site_dir: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum StandaloneError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Directory(#[from] DirectoryError),
    #[error("cannot read the web assets in {dir}: {source}")]
    Assets { dir: String, source: std::io::Error },
    #[error("the sandbox stopped with an error: {0}")]
    Serve(std::io::Error),
}

/// A bound standalone sandbox.
pub struct Standalone {
    listener: TcpListener,
    state: SandboxState,
    assets: Arc<StaticAssets>,
    headers: crate::http::security_headers::SecurityHeaders,
}

/// A listener bound for a standalone sandbox, its directory not read yet: the instances that
/// will sign in here can be told its address before the directory (which names theirs) exists.
pub struct Bound {
    listener: TcpListener,
    addr: SocketAddr,
}

impl Bound {
    pub async fn bind(listen: SocketAddr) -> Result<Bound, StandaloneError> {
        let failed = |source| StandaloneError::Bind {
            addr: listen,
            source,
        };
        let listener = TcpListener::bind(listen).await.map_err(failed)?;
        let addr = listener.local_addr().map_err(failed)?;
        Ok(Bound { listener, addr })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Reads the directory and the site's stylesheet: ready to serve.
    pub async fn open(self, o: StandaloneOptions) -> Result<Standalone, StandaloneError> {
        let (listener, bound) = (self.listener, self.addr);
        let own = o.public_url.clone().unwrap_or_else(|| {
            Url::parse(&format!("http://{bound}")).expect("a socket address makes a valid URL")
        });
        let sandbox = Sandbox::open(
            o.sandbox_file.as_deref(),
            &o.data_dir,
            o.mailkey_url.as_str(),
            own.as_str(),
            crate::wizard::CALLBACK_PATH,
        )?;
        let candidates = BuildManifest::candidates(&o.site_dir);
        let hashed = candidates.iter().any(BuildManifest::hashed);
        let assets =
            StaticAssets::load(&o.site_dir, crate::server::PKG_DIR, hashed).map_err(|source| {
                StandaloneError::Assets {
                    dir: o.site_dir.display().to_string(),
                    source,
                }
            })?;
        let manifest = BuildManifest::choose(
            candidates,
            &assets,
            &o.site_dir,
            crate::server::PKG_DIR,
            crate::server::OUTPUT_NAME,
        );
        if assets.is_empty() {
            tracing::warn!(site_dir = %o.site_dir.display(), "no web assets: the sandbox's pages come without styles");
        }
        tracing::warn!(
            authority = %sandbox.authority,
            mailkey = %o.mailkey_url,
            tenants = sandbox.directory.tenants.len(),
            directory = %sandbox.source,
            "standalone SANDBOX identity provider: it is not Microsoft and signs in to no real \
             mailbox. Point Mailkey instances at it with sandbox_url = \"{}\"",
            own.as_str().trim_end_matches('/')
        );
        Ok(Standalone {
            listener,
            state: SandboxState {
                sandbox: Some(sandbox),
                css_href: manifest
                    .css_href(crate::server::PKG_DIR, crate::server::OUTPUT_NAME)
                    .into(),
            },
            assets: Arc::new(assets),
            headers: crate::http::security_headers::SecurityHeaders {
                hsts: own.scheme() == "https",
            },
        })
    }
}

impl Standalone {
    /// Binds `listen` and opens: [`Bound::bind`], then [`Bound::open`].
    pub async fn prepare(
        listen: SocketAddr,
        o: StandaloneOptions,
    ) -> Result<Standalone, StandaloneError> {
        Bound::bind(listen).await?.open(o).await
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// The sandbox, for tests that turn its switches.
    pub fn sandbox(&self) -> &Sandbox {
        self.state
            .sandbox
            .as_ref()
            .expect("a standalone sandbox is always on")
    }

    /// Serves until `shutdown` completes.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), StandaloneError> {
        tracing::info!(address = %self.local_addr(), "sandbox identity provider is listening");
        let assets = self.assets.clone();
        let router = routes::<SandboxState>()
            .route("/", get(|| async { axum::response::Redirect::to(PREFIX) }))
            .route("/healthz", get(|| async { "ok" }))
            .fallback(move |req: Request| {
                let assets = assets.clone();
                async move {
                    assets
                        .respond(req.method(), req.uri().path(), req.headers())
                        .unwrap_or_else(|| axum::http::StatusCode::NOT_FOUND.into_response())
                }
            })
            .layer(axum::middleware::from_fn_with_state(
                self.headers,
                crate::http::security_headers::apply,
            ))
            .with_state(self.state);
        crate::http::serve::serve(self.listener, router, shutdown)
            .await
            .map_err(StandaloneError::Serve)
    }
}
