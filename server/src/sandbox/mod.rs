//! The sandbox identity provider (the `mailkey-sandbox` crate) as Mailkey runs it: its routes
//! mounted on Mailkey's own address when `sandbox` is on, or alone as `mailkey sandbox`.

mod standalone;

use axum::extract::FromRef;

pub use mailkey_sandbox::*;
pub use standalone::{Bound, Standalone, StandaloneError, StandaloneOptions};

use crate::state::AppState;

impl FromRef<AppState> for SandboxState {
    fn from_ref(s: &AppState) -> SandboxState {
        SandboxState {
            sandbox: s.sandbox.clone(),
            css_href: s.css_href.clone(),
        }
    }
}
