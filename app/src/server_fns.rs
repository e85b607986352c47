//! The portal's server functions: called directly during server rendering and over HTTP (under
//! [`crate::SERVER_FN_PREFIX`]) from the browser.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::{api::AccountSummary, error::PortalError};

/// The signed-in operator, as the pages show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorView {
    /// Seconds since the Unix epoch.
    pub signed_in_at: i64,
}

#[server(prefix = "/_fn", endpoint = "operator")]
pub async fn current_operator() -> Result<Option<OperatorView>, PortalError> {
    let (backend, parts) = crate::backend::request_context()?;
    backend.0.operator(&parts).await
}

#[server(prefix = "/_fn", endpoint = "accounts")]
pub async fn list_accounts() -> Result<Vec<AccountSummary>, PortalError> {
    let (backend, parts) = crate::backend::request_context()?;
    backend.0.list_accounts(&parts).await
}
