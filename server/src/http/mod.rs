//! Everything that speaks HTTP: the router, the JSON API, operator sign-in routes, static assets
//! and the security middleware that wraps them all.

pub mod api_accounts;
mod api_connect;
mod api_organisations;
pub mod api_v1;
pub mod api_webhooks;
pub mod assets;
pub mod caller;
pub mod embed;
pub mod error;
pub mod health;
pub mod html;
pub mod limits;
pub mod origin;
pub mod security_headers;
pub mod serve;
pub mod session;
pub mod setup;
pub mod sign_in;
pub mod tests_live;
