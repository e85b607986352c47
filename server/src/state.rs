use std::sync::Arc;

use axum::extract::FromRef;
use leptos::config::LeptosOptions;

use crate::{
    auth::OperatorAccess,
    connection_tests::ConnectionTests,
    http::{assets::StaticAssets, origin::OriginPolicy, security_headers::SecurityHeaders},
    operator_settings::OperatorSettings,
    sandbox::Sandbox,
    sign_in::SignIn,
    storage::Store,
    tokens::TokenKeeper,
    wizard::Wizard,
};

/// Everything a request handler may need. axum clones the state for every request, so it is one
/// shared allocation; handlers take only the part they use (`State<Store>`,
/// `State<OperatorAccess>`, …) through `FromRef`.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> AppState {
        AppState(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What `State<T>` may extract: each part by itself.
macro_rules! parts {
    ($($field:ident: $ty:ty),* $(,)?) => {
        $(impl FromRef<AppState> for $ty {
            fn from_ref(s: &AppState) -> $ty {
                s.0.$field.clone()
            }
        })*
    };
}

parts! {
    leptos_options: LeptosOptions,
    store: Store,
    wizard: Wizard,
    sign_in: SignIn,
    tokens: TokenKeeper,
    connection_tests: ConnectionTests,
    operator_settings: OperatorSettings,
    webhooks: crate::webhooks::Webhooks,
    connect_sessions: crate::connect::ConnectSessions,
    live_tests: crate::http::tests_live::LiveTests,
    stream_caps: crate::http::limits::StreamCaps,
    sandbox: Option<Sandbox>,
    operator_access: OperatorAccess,
    api_keys: crate::api_keys::ApiKeys,
    token_views: crate::token_views::TokenViews,
    origin_policy: OriginPolicy,
    readiness: crate::http::health::Readiness,
    audit: crate::audit::Audit,
    security_headers: SecurityHeaders,
    assets: Arc<StaticAssets>,
}

pub struct Shared {
    /// `/metrics` on the main address, when `metrics_token` is set.
    pub metrics: Option<crate::http::metrics::MetricsAccess>,
    /// Whether the instance is stopping (`/readyz`).
    pub readiness: crate::http::health::Readiness,
    /// The audit trail.
    pub audit: crate::audit::Audit,
    /// The master keys: following rotations, re-sealing.
    pub key_rotation: crate::key_rotation::KeyRotation,
    pub leptos_options: LeptosOptions,
    pub store: Store,
    pub wizard: Wizard,
    pub sign_in: SignIn,
    pub tokens: TokenKeeper,
    pub connection_tests: ConnectionTests,
    pub operator_settings: OperatorSettings,
    pub webhooks: crate::webhooks::Webhooks,
    pub connect_sessions: crate::connect::ConnectSessions,
    /// Connection tests running or just finished, for their event streams.
    pub live_tests: crate::http::tests_live::LiveTests,
    /// Live event streams open per browser session.
    pub stream_caps: crate::http::limits::StreamCaps,
    /// `/api/v1`'s rate limit per key (`api_requests_per_second`).
    pub host_api_limit: crate::http::limits::Limit,
    /// `Some` only when the sandbox identity provider is turned on.
    pub sandbox: Option<Sandbox>,
    pub operator_access: OperatorAccess,
    pub api_keys: crate::api_keys::ApiKeys,
    pub token_views: crate::token_views::TokenViews,
    pub origin_policy: OriginPolicy,
    pub security_headers: SecurityHeaders,
    pub assets: Arc<StaticAssets>,
    /// The stylesheet's URL (content-hashed in release builds).
    pub css_href: Arc<str>,
}
