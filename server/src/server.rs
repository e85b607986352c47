//! Assembles the router and runs it: `app` builds the whole HTTP surface from a state (tests call
//! it directly), `Server` binds, prepares state and serves until told to stop.

use std::{future::Future, net::SocketAddr, sync::Arc};

use axum::{
    extract::{Request, State},
    middleware,
    response::IntoResponse,
    routing::{get, post, put},
    Router,
};
use leptos::{config::LeptosOptions, prelude::*};
use leptos_axum::{generate_route_list, AxumRouteListing, LeptosRoutes, ResponseOptions};
use mailkey_app::{
    backend::{Backend, FrameAncestors, Redirect, ResponseStatus},
    App,
};
use tokio::net::TcpListener;
use tower_http::{
    compression::{CompressionLayer, CompressionLevel},
    timeout::TimeoutLayer,
    trace::TraceLayer,
};
use url::Url;

use crate::{
    auth::{operator::SETUP_PATH, OperatorAccess},
    config::Config,
    connection_tests::ConnectionTests,
    discovery::TenantDiscovery,
    http::{
        api_v1,
        assets::{BuildManifest, StaticAssets},
        embed, health, limits, origin,
        origin::OriginPolicy,
        security_headers::{self, framed_page_csp, page_csp, SecurityHeaders},
        session, setup, sign_in, tests_live,
    },
    operator_app::OperatorApp,
    operator_settings::OperatorSettings,
    portal::Portal,
    providers::Providers,
    sandbox::{self, DirectoryError, Sandbox},
    secrets::{
        key_files, KeyOrigin, MasterKey, SealError, Sealer, SecretsError, KEYS_DIR, KEY_FILE,
    },
    sign_in::{OAuthHttp, SignIn},
    state::AppState,
    storage::{StorageError, Store},
    tokens::TokenKeeper,
    wizard::{StartupKeyError, Wizard, CALLBACK_PATH},
};

/// The name cargo-leptos gives the wasm, js and css files (`[[workspace.metadata.leptos]] name`).
pub const OUTPUT_NAME: &str = "mailkey";
pub const PKG_DIR: &str = "pkg";
/// How long a token request may take, connection included.
const TOKEN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);
/// How long the wizard waits for Microsoft to resolve a tenant domain.
const DISCOVERY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Context every Leptos render and server function gets: the backend, and (for pages) the
/// response's Content-Security-Policy with the nonce Leptos put on its scripts.
fn leptos_context(portal: Portal) -> impl Fn() + Clone + Send + Sync + 'static {
    let backend = Backend(Arc::new(portal));
    move || {
        provide_context(backend.clone());
        // Only a plain form post (no wasm yet) is redirected; the wasm navigates by itself and
        // first shows any warnings the save returned.
        provide_context(Redirect(Arc::new(|path: &str| {
            let plain_form = use_context::<axum::http::request::Parts>().is_some_and(|p| {
                p.headers
                    .get(axum::http::header::ACCEPT)
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.contains("text/html"))
            });
            if plain_form {
                leptos_axum::redirect(path);
            }
        })));
        if let Some(res) = use_context::<ResponseOptions>() {
            if let Some(nonce) = leptos::nonce::use_nonce() {
                if let Ok(v) = page_csp(&nonce).parse() {
                    res.insert_header(axum::http::header::CONTENT_SECURITY_POLICY, v);
                }
                // The embedded wizard's page may be framed by its session's origins.
                let framed = res.clone();
                let nonce = nonce.to_string();
                provide_context(FrameAncestors(Arc::new(move |origins: &[String]| {
                    if let Ok(v) = framed_page_csp(&nonce, origins).parse() {
                        framed.insert_header(axum::http::header::CONTENT_SECURITY_POLICY, v);
                    }
                    // The page's address holds its launch token: its calls send only the
                    // origin as Referer (not `no-referrer`, which would blank the Origin header
                    // the origin check needs).
                    framed.insert_header(
                        axum::http::header::REFERRER_POLICY,
                        axum::http::HeaderValue::from_static("strict-origin"),
                    );
                })));
            }
            let status = res.clone();
            provide_context(ResponseStatus(Arc::new(move |code| {
                if let Ok(code) = axum::http::StatusCode::from_u16(code) {
                    status.set_status(code);
                }
            })));
        }
    }
}

/// The app's page routes, listed once per process. Listing runs the whole app with resource
/// loading switched off by a process-wide flag (`SuppressResourceLoad`, leptos-rs/leptos#4773):
/// a page render anywhere in the process whose resource first polled meanwhile waited forever.
/// Listed once, before any server of the process can serve, no render can meet it.
fn page_routes() -> Vec<AxumRouteListing> {
    static ROUTES: std::sync::OnceLock<Vec<AxumRouteListing>> = std::sync::OnceLock::new();
    ROUTES.get_or_init(|| generate_route_list(App)).clone()
}

/// The whole HTTP surface.
pub fn app(state: AppState) -> Router {
    let routes = page_routes();
    let context = leptos_context(Portal {
        api_keys: state.api_keys.clone(),
        reveals: Default::default(),
        store: state.store.clone(),
        wizard: state.wizard.clone(),
        tokens: state.tokens.clone(),
        connection_tests: state.connection_tests.clone(),
        operator_settings: state.operator_settings.clone(),
        webhooks: state.webhooks.clone(),
        connect_sessions: state.connect_sessions.clone(),
        audit: state.audit.clone(),
    });
    let css_href = state.css_href.clone();
    let shell = move |options: LeptosOptions| mailkey_app::shell(options, css_href.to_string());

    // One budget for every way of starting a round trip to Microsoft.
    let sign_in_starts = limits::per_ip(&limits::SIGN_IN_STARTS);
    // Routes that know who is asking: pages, server functions, the API, sign-out.
    let with_session = Router::new()
        .leptos_routes_with_context(&state, routes, context.clone(), {
            let shell = shell.clone();
            let options = state.leptos_options.clone();
            move || shell(options.clone())
        })
        .nest(
            "/api/v1",
            api_v1::routes().layer(limits::per_key_or_ip(&state.host_api_limit)),
        )
        .route("/logout", post(setup::logout))
        .route(
            "/accounts/{id}/sign-in",
            get(sign_in::start).layer(sign_in_starts.clone()),
        )
        .route("/accounts/{id}/sign-in/events", get(sign_in::events))
        .route(
            "/accounts/{id}/tests",
            post(tests_live::start).layer(limits::per_ip(&limits::CONNECTION_TESTS)),
        )
        .route("/accounts/{id}/tests/{run}/events", get(tests_live::events))
        .route(
            "/accounts/{id}/admin-consent",
            get(sign_in::admin_consent).layer(sign_in_starts.clone()),
        )
        .route(
            "/accounts/{id}/admin-consent-link",
            post(sign_in::admin_consent_link).layer(sign_in_starts.clone()),
        )
        .route(CALLBACK_PATH, get(sign_in::callback))
        .route("/embed/session", post(embed::launch))
        .route("/embed/api/state", get(embed::account_state))
        .route("/embed/api/app", put(embed::save_app))
        .route(
            "/embed/api/sign-in",
            post(embed::sign_in_ticket).layer(sign_in_starts.clone()),
        )
        .route("/embed/api/sign-in/{ticket}", get(embed::sign_in_result))
        .route(
            "/embed/api/tests",
            post(embed::start_test).layer(limits::per_ip(&limits::CONNECTION_TESTS)),
        )
        .route("/embed/api/tests/{run}", get(embed::test_progress))
        .route(
            "/embed/sign-in/{ticket}",
            get(embed::popup_start).layer(sign_in_starts),
        )
        // Inside the session's resolution: the audit knows the operator's session.
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            crate::http::audit::record_changes,
        ))
        .route_layer(middleware::from_fn_with_state(
            state.operator_access.clone(),
            session::resolve,
        ))
        .layer(middleware::from_fn_with_state(
            state.token_views.freshness().clone(),
            crate::http::settle::after_writes,
        ));

    let fallback = leptos_axum::file_and_error_handler_with_context(context, shell);
    let mut routes = Router::new()
        .merge(with_session)
        .route(
            SETUP_PATH,
            get(setup::redeem).layer(limits::per_ip(&limits::SETUP_LINKS)),
        )
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz));
    // Mounted only when on: off, `/sandbox/…` is an unknown page like any other.
    if state.sandbox.is_some() {
        routes = routes.merge(sandbox::routes());
    }
    // On the main address only behind its token.
    if let Some(access) = state.metrics.clone() {
        routes = routes.route(
            "/metrics",
            get(crate::http::metrics::scrape).with_state(access),
        );
    }
    routes
        .fallback(move |State(s): State<AppState>, req: Request| async move {
            match s.assets.respond(req.method(), req.uri().path(), req.headers()) {
                Some(res) => res,
                None => fallback(req.uri().clone(), State(s.clone()), req).await.into_response(),
            }
        })
        .layer(middleware::from_fn_with_state(state.origin_policy.clone(), origin::check))
        .layer(middleware::from_fn_with_state(
            state.security_headers,
            security_headers::apply,
        ))
        // Pages and JSON; assets arrive precompressed and are left alone.
        .layer(CompressionLayer::new().quality(CompressionLevel::Precise(5)))
        // No request runs forever (event streams answer at once and have their own bounds).
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            limits::REQUEST_TIMEOUT,
        ))
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &Request| {
                tracing::debug_span!("request", method = %req.method(), path = %crate::http::loggable_path(req.uri().path()))
            }),
        )
        .with_state(state)
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("cannot start with the master key: {0}")]
    Secrets(#[from] SecretsError),
    #[error(transparent)]
    Sandbox(#[from] DirectoryError),
    #[error("cannot set up connection tests: {0}")]
    MailTest(String),
    #[error("cannot read the web assets in {dir}: {source}")]
    Assets { dir: String, source: std::io::Error },
    #[error("the web assets cannot serve working pages: {0}")]
    Site(#[from] crate::http::assets::SiteError),
    #[error("server stopped with an error: {0}")]
    Serve(std::io::Error),
}

/// Everything but HTTP, built the same way for the server and for commands such as
/// `mailkey test`: storage, the master key, the sandbox, providers, the wizard, token upkeep,
/// sign-in and connection tests.
pub struct Services {
    pub store: Store,
    pub sandbox: Option<Sandbox>,
    pub wizard: Wizard,
    pub tokens: TokenKeeper,
    pub sign_in: SignIn,
    pub connection_tests: ConnectionTests,
    pub operator_settings: OperatorSettings,
    pub webhooks: crate::webhooks::Webhooks,
    pub key_rotation: crate::key_rotation::KeyRotation,
}

impl Services {
    pub async fn open(config: &Config, public_url: &Url) -> Result<Services, StartError> {
        let store = Store::connect(&config.database).await?;
        let sealer = open_secrets(config, &store).await?;
        let sandbox = open_sandbox(config, public_url)?;
        let sandbox_authority = match (&sandbox, &config.sandbox_url) {
            (Some(own), _) => Some(own.authority.clone()),
            (None, Some(url)) => Some(format!(
                "{}{}",
                url.as_str().trim_end_matches('/'),
                sandbox::PREFIX
            )),
            (None, None) => None,
        };
        // A standalone sandbox's directory is read only for its multi-tenant app (one-click).
        let remote_directory = match (&sandbox, &config.sandbox_url, &config.sandbox_file) {
            (None, Some(_), Some(file)) => Some(sandbox::Directory::load(file)?),
            _ => None,
        };
        let sandbox_operator_app = sandbox
            .as_ref()
            .map(|s| &*s.directory)
            .or(remote_directory.as_ref())
            .and_then(|d| d.multi_tenant_apps.first())
            .and_then(OperatorApp::from_sandbox);
        let providers = Providers::new(
            config.microsoft_authority.as_str(),
            sandbox_authority.as_deref(),
        )
        .with_operator_apps(
            config.operator_app.as_ref().map(OperatorApp::from_config),
            sandbox_operator_app,
        );
        let operator_settings =
            OperatorSettings::new(store.clone(), sealer.clone(), providers.clone());
        let webhooks = crate::webhooks::Webhooks::new(
            store.clone(),
            sealer.clone(),
            config.allow_private_hosts,
        );
        operator_settings.load_saved().await?;
        let discovery = TenantDiscovery::new(DISCOVERY_TIMEOUT);
        let wizard = Wizard::new(
            store.clone(),
            sealer.clone(),
            discovery,
            public_url,
            providers.clone(),
            config.mail_ports.clone(),
        );
        let redirect_uri = wizard.redirect_uri().to_string();
        let http = OAuthHttp::new(TOKEN_TIMEOUT);
        let tokens = TokenKeeper::new(
            store.clone(),
            sealer.clone(),
            providers.clone(),
            http.clone(),
            redirect_uri.clone(),
            config.attention_keep_alive_days,
        );
        tokens.set_refresh_lease(config.refresh_lease);
        let key_rotation = crate::key_rotation::KeyRotation::new(
            store.backend(),
            sealer.clone(),
            &config.data_dir,
        );
        let sign_in = SignIn::new(
            store.clone(),
            sealer,
            providers,
            http,
            tokens.clone(),
            redirect_uri,
        );
        let connection_tests = ConnectionTests::new(config, store.clone(), tokens.clone())
            .map_err(StartError::MailTest)?;
        Ok(Services {
            store,
            sandbox,
            wizard,
            tokens,
            sign_in,
            connection_tests,
            operator_settings,
            webhooks,
            key_rotation,
        })
    }
}

/// A bound, ready server.
pub struct Server {
    listener: TcpListener,
    state: AppState,
    public_url: Url,
    /// `metrics_listen`'s listener, and who may scrape there.
    metrics_listener: Option<(TcpListener, crate::http::metrics::MetricsAccess)>,
    /// How long it serves on, draining, after the stop signal.
    shutdown_grace: std::time::Duration,
}

impl Server {
    /// Binds the listener, opens storage, loads assets. Port 0 binds a free port.
    pub async fn prepare(config: &Config) -> Result<Server, StartError> {
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| StartError::Bind {
                    addr: config.listen,
                    source,
                })?;
        let bound = listener.local_addr().map_err(|source| StartError::Bind {
            addr: config.listen,
            source,
        })?;
        let metrics_listener = match config.metrics_listen {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .map_err(|source| StartError::Bind { addr, source })?,
            ),
            None => None,
        };
        let public_url = config.public_url_or(bound);
        for w in config.warnings(&public_url) {
            tracing::warn!("{w}");
        }
        let services = Services::open(config, &public_url).await?;
        let candidates = BuildManifest::candidates(&config.site_dir);
        let hashed = candidates.iter().any(BuildManifest::hashed);
        let assets = StaticAssets::load(&config.site_dir, PKG_DIR, hashed).map_err(|source| {
            StartError::Assets {
                dir: config.site_dir.display().to_string(),
                source,
            }
        })?;
        let manifest =
            BuildManifest::choose(candidates, &assets, &config.site_dir, PKG_DIR, OUTPUT_NAME);
        // Pages that ask for scripts the site does not have are a dead portal: refuse to start.
        manifest.check(&assets, &config.site_dir, PKG_DIR, OUTPUT_NAME)?;
        if assets.is_empty() {
            tracing::warn!(
                site_dir = %config.site_dir.display(),
                "NO WEB ASSETS in the site directory: the portal's pages render without styles \
                 or interactivity (the API works). Build them with `cargo xtask run` and copy \
                 target/site whole (it holds hash.txt), or set site_dir to it"
            );
        } else {
            tracing::info!(
                files = assets.len(),
                site_dir = %config.site_dir.display(),
                manifest = %manifest.path.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "none (unhashed build)".into()),
                "web assets loaded"
            );
        }
        let leptos_options = LeptosOptions::builder()
            .output_name(OUTPUT_NAME)
            .site_root(config.site_dir.display().to_string())
            .site_pkg_dir(PKG_DIR)
            .site_addr(bound)
            .hash_files(manifest.hashed())
            .hash_file(
                manifest
                    .path
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|| crate::http::assets::MANIFEST_FILE.to_string())
                    .into(),
            )
            .env(leptos::config::Env::PROD)
            .build();
        // One reading of the database's revision serves the key check and the token views.
        let freshness = crate::freshness::Freshness::new(services.store.clone());
        let connect_sessions = crate::connect::ConnectSessions::new(
            services.store.clone(),
            public_url.clone(),
            config.allow_private_hosts,
        );
        let scrape = crate::metrics::Scrape::new(services.store.clone());
        let metrics_token = config.metrics_token.clone().map(Arc::new);
        let metrics_access = |token| crate::http::metrics::MetricsAccess {
            scrape: scrape.clone(),
            token,
        };
        let metrics_listener =
            metrics_listener.map(|listener| (listener, metrics_access(metrics_token.clone())));
        let state = AppState::new(crate::state::Shared {
            metrics: metrics_token.map(|token| metrics_access(Some(token))),
            readiness: Default::default(),
            audit: crate::audit::Audit::new(&services.store, config.audit_retention_days),
            css_href: manifest.css_href(PKG_DIR, OUTPUT_NAME).into(),
            leptos_options,
            operator_access: OperatorAccess::new(services.store.clone(), public_url.clone()),
            api_keys: crate::api_keys::ApiKeys::new(services.store.clone(), freshness.clone()),
            token_views: crate::token_views::TokenViews::new(services.store.clone(), freshness),
            origin_policy: OriginPolicy::new(&public_url, config.public_url.is_some(), bound),
            security_headers: SecurityHeaders {
                hsts: public_url.scheme() == "https",
            },
            assets: Arc::new(assets),
            store: services.store,
            wizard: services.wizard,
            sign_in: services.sign_in,
            tokens: services.tokens,
            sandbox: services.sandbox,
            connection_tests: services.connection_tests,
            operator_settings: services.operator_settings,
            webhooks: services.webhooks,
            key_rotation: services.key_rotation,
            connect_sessions,
            live_tests: Default::default(),
            stream_caps: Default::default(),
            host_api_limit: limits::Limit::per_second(config.api_requests_per_second),
        });
        Ok(Server {
            listener,
            state,
            public_url,
            metrics_listener,
            shutdown_grace: config.shutdown_grace,
        })
    }

    /// The shared state, for tests that look inside (the sandbox's grants, the token keeper).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// `metrics_listen`'s bound address, when set.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener
            .as_ref()
            .and_then(|(listener, _)| listener.local_addr().ok())
    }

    pub fn public_url(&self) -> &Url {
        &self.public_url
    }

    pub fn operator_access(&self) -> &OperatorAccess {
        &self.state.operator_access
    }

    /// When nobody could sign in otherwise: on a terminal, prints a one-time setup link there
    /// (not through the log, which in a hosted deployment goes to a log pipeline, while the link
    /// is an operator's credential for 24 hours); elsewhere, logs how to get one.
    pub async fn announce_setup_link(&self, on_terminal: bool) -> Result<(), StorageError> {
        let access = &self.state.operator_access;
        if !access.needs_setup_link().await? {
            return Ok(());
        }
        if on_terminal {
            let link = access.new_setup_link().await?;
            eprintln!(
                "\n  No operator is signed in. Open this one-time link to sign in to Mailkey:\n\n    \
                 {link}\n\n  It works once, for 24 hours; `mailkey admin link` prints another.\n"
            );
        } else {
            tracing::warn!(
                "no operator is signed in: run `mailkey admin link` on this server (same data \
                 directory and settings) to get a one-time sign-in link"
            );
        }
        Ok(())
    }

    /// Serves until `shutdown` completes, then finishes in-flight requests.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), StartError> {
        tracing::info!(address = %self.local_addr(), public_url = %self.public_url, "Mailkey is listening");
        let store = self.state.store.clone();
        let tokens = self.state.tokens.clone();
        let upkeep = tokens.spawn_upkeep();
        let follow = self
            .state
            .operator_settings
            .spawn_follow(FOLLOW_OPERATOR_APPS_EVERY, self.state.tokens.clone());
        let key_use = self.state.api_keys.spawn_flush();
        let webhooks = self
            .state
            .webhooks
            .spawn(crate::webhooks::notices::Notices {
                store: store.clone(),
            });
        let notice_mail = crate::notice_mail::NoticeMailer::new(
            store.clone(),
            self.state.connection_tests.clone(),
            self.public_url.as_str(),
        )
        .spawn();
        let api_keys = self.state.api_keys.clone();
        let audit = self.state.audit.clone();
        let audit_upkeep = audit.spawn_upkeep();
        let key_rotation = self.state.key_rotation.clone();
        let key_upkeep = key_rotation.spawn_upkeep();
        let listening = self.state.token_views.freshness().listen();
        let (stop_metrics, metrics_stopped) = tokio::sync::oneshot::channel::<()>();
        let metrics = self.metrics_listener.map(|(listener, access)| {
            tracing::info!(address = %listener.local_addr().map(|a| a.to_string()).unwrap_or_default(), "metrics are served at /metrics");
            tokio::spawn(crate::http::serve::serve(
                listener,
                crate::http::metrics::own_address(access),
                async move {
                    let _ = metrics_stopped.await;
                },
            ))
        });
        let readiness = self.state.readiness.clone();
        let live_tests = self.state.live_tests.clone();
        let grace = self.shutdown_grace;
        let shutdown = async move {
            shutdown.await;
            readiness.start_draining();
            if !grace.is_zero() {
                tracing::info!(
                    grace_secs = grace.as_secs(),
                    "stopping: /readyz answers 503 while this instance still serves"
                );
                tokio::time::sleep(grace).await;
            }
        };
        crate::http::serve::serve(self.listener, app(self.state), shutdown)
            .await
            .map_err(StartError::Serve)?;
        live_tests
            .finish_or_interrupt(&store, TESTS_AT_SHUTDOWN)
            .await;
        listening.stop().await;
        let _ = stop_metrics.send(());
        if let Some(task) = metrics {
            let _ = task.await;
        }
        tokens.stop_upkeep(upkeep, REFRESHES_AT_SHUTDOWN).await;
        follow.abort();
        key_use.abort();
        key_upkeep.abort();
        key_rotation.leave().await;
        // A delivery (or notice e-mail) cut off here is taken again when its lease runs out: at
        // worst the receiver sees it twice (a webhook with the same webhook-id).
        for task in webhooks {
            task.abort();
        }
        notice_mail.abort();
        api_keys.flush().await;
        audit_upkeep.abort();
        audit.flush().await;
        store.close().await;
        tracing::info!("Mailkey stopped");
        Ok(())
    }
}

/// How long a keep-alive refresh under way at shutdown may take to finish (the token request's
/// own timeout is within it).
const REFRESHES_AT_SHUTDOWN: std::time::Duration = std::time::Duration::from_secs(20);

/// How long connection tests running at shutdown may take to finish before they are recorded
/// as interrupted (a test's own stages time out well within it).
const TESTS_AT_SHUTDOWN: std::time::Duration = std::time::Duration::from_secs(25);

/// How soon an operator app saved on another instance is used here.
const FOLLOW_OPERATOR_APPS_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// The sandbox identity provider, when turned on: from the sandbox file, else the demo directory.
fn open_sandbox(config: &Config, public_url: &Url) -> Result<Option<Sandbox>, StartError> {
    if !config.sandbox {
        return Ok(None);
    }
    let base = public_url.as_str().trim_end_matches('/');
    let sandbox = Sandbox::open(
        config.sandbox_file.as_deref(),
        &config.data_dir,
        base,
        base,
        crate::wizard::CALLBACK_PATH,
    )?;
    tracing::warn!(
        authority = %sandbox.authority,
        tenants = sandbox.directory.tenants.len(),
        "SANDBOX identity provider is ON: it is not Microsoft and signs in to no real mailbox. \
         For tests and demos only; see {base}{}",
        sandbox::PREFIX
    );
    Ok(Some(sandbox))
}

/// Finds the master keys (configured, on disk, or new, and those rotation introduced) and proves
/// they open what is stored; fails closed otherwise. New values are sealed with the key the
/// database names as its primary one.
pub async fn open_secrets(config: &Config, store: &Store) -> Result<Sealer, StartError> {
    let has_secrets = Wizard::holds_sealed_values(store).await?;
    let retired = store.retired_master_keys().await?;
    let keys_dir = config.data_dir.join(KEYS_DIR);
    let rotated: Vec<MasterKey> = key_files(&keys_dir)?
        .into_iter()
        .map(|(key, _)| key)
        .filter(|key| !retired.contains(&key.id_hex()))
        .collect();
    let first = MasterKey::resolve_beside(
        config.master_key.clone(),
        &config.data_dir,
        has_secrets,
        !rotated.is_empty(),
    )?;
    let key_path = config.data_dir.join(KEY_FILE).display().to_string();
    match &first {
        Some((key, KeyOrigin::Generated)) => tracing::info!(
            key_id = %key.id_hex(),
            path = %key_path,
            "generated a new master key (mode 0600). Back it up with the database: without it the \
             stored client secrets cannot be read"
        ),
        Some((key, KeyOrigin::DataDirFile)) => {
            tracing::info!(key_id = %key.id_hex(), path = %key_path, "master key loaded")
        }
        Some((key, KeyOrigin::Configured)) => {
            tracing::info!(key_id = %key.id_hex(), "master key taken from the configuration")
        }
        None => {}
    }
    // A retired key still in the configuration or the key file is not held: nothing needs it.
    let first = first
        .map(|(key, _)| key)
        .filter(|key| !retired.contains(&key.id_hex()) || rotated.is_empty());
    let mut keys = first.into_iter().chain(rotated.iter().cloned());
    let sealer = Sealer::new(keys.next().expect("a key is found or made"));
    for key in keys {
        tracing::info!(key_id = %key.id_hex(), dir = %keys_dir.display(), "master key loaded");
        sealer.hold(&key);
    }
    // The database names the key its instances seal with (the first one to start wrote it, once
    // its key opened what was stored; `mailkey keys rotate` moves it): an instance without it
    // would seal values the others cannot open, or fail to open theirs.
    let rotation_happened = !rotated.is_empty() || !retired.is_empty();
    let not_held = |recorded: String| {
        if rotation_happened {
            StartError::Secrets(SecretsError::PrimaryNotHeld {
                primary: recorded,
                held: sealer
                    .held()
                    .iter()
                    .map(|id| crate::secrets::hex(id))
                    .collect::<Vec<_>>()
                    .join(", "),
                dir: keys_dir.display().to_string(),
            })
        } else {
            StartError::Secrets(SecretsError::NotTheDatabasesKey {
                given: sealer.key_id_hex(),
                recorded,
                path: key_path.clone(),
            })
        }
    };
    let follows = |recorded: &str| {
        crate::secrets::key_id_from_hex(recorded).is_some_and(|id| sealer.use_primary(&id))
    };
    // After a rotation, the key to copy is named at once; before any, a wrong key is told by
    // what it fails to open (below).
    if let Some(recorded) = store.primary_master_key().await? {
        if !follows(&recorded) && rotation_happened {
            return Err(not_held(recorded));
        }
    }
    match Wizard::verify_key(store, &sealer).await {
        Ok(()) => {}
        Err(StartupKeyError::Storage(e)) => return Err(e.into()),
        Err(StartupKeyError::Seal(SealError::WrongKey(stored))) => {
            return Err(StartError::Secrets(SecretsError::WrongKey {
                given: sealer.key_id_hex(),
                stored,
                path: key_path,
            }))
        }
        Err(StartupKeyError::Seal(_)) => return Err(StartError::Secrets(SecretsError::Tampered)),
    }
    let recorded = store.agree_master_key(&sealer.key_id_hex()).await?;
    if !follows(&recorded) {
        return Err(not_held(recorded));
    }
    Ok(sealer)
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    // The handlers are installed now, not when the future is first polled: the server says it
    // listens (and answers, from the listen backlog) before its accept loop polls this, and a
    // SIGTERM in between must stop it cleanly rather than kill it.
    #[cfg(unix)]
    let (interrupt, terminate) = {
        use tokio::signal::unix::{signal, SignalKind};
        (
            signal(SignalKind::interrupt()).ok(),
            signal(SignalKind::terminate()).ok(),
        )
    };
    async move {
        #[cfg(unix)]
        {
            let wait = |s: Option<tokio::signal::unix::Signal>| async move {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = wait(interrupt) => {},
                _ = wait(terminate) => {},
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        tracing::info!("shutting down: finishing requests in flight");
    }
}
