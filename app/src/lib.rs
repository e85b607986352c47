//! Mailkey's user interface and the rules shared by browser and server.
//!
//! Compiled twice: with `ssr` into the server (rendering pages, running server functions) and with
//! `hydrate` into the browser's WebAssembly (making the rendered pages interactive).
// Wizard pages nest deep static view types; the release build needs more headroom than the
// default 128 to compute their layout.
#![recursion_limit = "256"]

pub mod api;
pub mod api_keys;
mod app;
pub mod audit;
#[cfg(feature = "ssr")]
pub mod backend;
mod components;
pub mod connect;
pub mod draft;
pub mod error;
pub mod mail_test;
pub mod notice_mail;
pub mod operator_settings;
mod pages;
pub mod provider;
pub mod renew;
pub mod rules;
pub mod server_fns;
#[cfg(feature = "ssr")]
mod shell;
pub mod sign_in;
pub mod webhooks;

pub use app::App;
#[cfg(feature = "hydrate")]
pub use pages::embed::boot as boot_embedded;
#[cfg(feature = "ssr")]
pub use shell::shell;

/// The version shown in the footer and reported by the API.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Where the wizard's own server functions live, apart from the host applications' `/api/v1`.
pub const SERVER_FN_PREFIX: &str = "/_fn";
