//! The server's side of the portal's server functions (see `mailkey_app::backend`).

use axum::http::request::Parts;
use mailkey_app::{
    api::AccountSummary,
    backend::{BoxFuture, PortalBackend},
    error::PortalError,
    server_fns::OperatorView,
};

use crate::{auth::OperatorSession, storage::Store};

pub struct Portal {
    pub store: Store,
}

fn operator_of(request: &Parts) -> Result<&OperatorSession, PortalError> {
    request
        .extensions
        .get::<OperatorSession>()
        .ok_or(PortalError::NotSignedIn)
}

impl PortalBackend for Portal {
    fn operator<'a>(
        &'a self,
        request: &'a Parts,
    ) -> BoxFuture<'a, Result<Option<OperatorView>, PortalError>> {
        Box::pin(async move {
            Ok(operator_of(request).ok().map(|s| OperatorView {
                signed_in_at: s.signed_in_at,
            }))
        })
    }

    fn list_accounts<'a>(
        &'a self,
        request: &'a Parts,
    ) -> BoxFuture<'a, Result<Vec<AccountSummary>, PortalError>> {
        Box::pin(async move {
            operator_of(request)?;
            self.store.list_accounts().await.map_err(|e| {
                tracing::error!(error = %e, "listing accounts failed");
                PortalError::storage_unavailable()
            })
        })
    }
}
