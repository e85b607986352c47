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

/// Everything a request handler may need, cheap to clone. Handlers take only the part they use
/// (`State<Store>`, `State<OperatorAccess>`, …) through `FromRef`.
#[derive(Clone, FromRef)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub store: Store,
    pub wizard: Wizard,
    pub sign_in: SignIn,
    pub tokens: TokenKeeper,
    pub connection_tests: ConnectionTests,
    pub operator_settings: OperatorSettings,
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
    pub origin_policy: OriginPolicy,
    pub security_headers: SecurityHeaders,
    pub assets: Arc<StaticAssets>,
    /// The stylesheet's URL (content-hashed in release builds).
    pub css_href: Arc<str>,
}
