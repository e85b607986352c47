//! `/api/v1`: the versioned JSON API for host applications. Independent of the portal's server
//! functions, so the UI can change without breaking integrations.

use axum::{
    extract::{Path, State},
    routing::get,
    Extension, Json, Router,
};
use mailkey_app::api::{AccountDetail, AccountList};

use super::error::HttpError;
use crate::{
    auth::OperatorSession,
    state::AppState,
    storage::Store,
    wizard::{DraftError, Wizard},
};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/accounts", get(list_accounts))
        .route("/accounts/{id}", get(account))
        .route("/accounts/{id}/tests", get(super::tests_live::history))
        .route(
            "/accounts/{id}/folders",
            get(super::tests_live::folders).put(super::tests_live::save_folders),
        )
        .fallback(|| async { HttpError::NotFound })
}

/// Every route here needs a caller; API keys for host applications join operator sessions later.
fn require_caller(
    session: Option<Extension<OperatorSession>>,
) -> Result<OperatorSession, HttpError> {
    session.map(|Extension(s)| s).ok_or(HttpError::Unauthorized)
}

async fn list_accounts(
    State(store): State<Store>,
    session: Option<Extension<OperatorSession>>,
) -> Result<Json<AccountList>, HttpError> {
    require_caller(session)?;
    Ok(Json(AccountList {
        accounts: store.list_accounts().await?,
    }))
}

/// One account's settings. The client secret appears only as `{"set": true, "expires": ...}`.
async fn account(
    State(wizard): State<Wizard>,
    session: Option<Extension<OperatorSession>>,
    Path(id): Path<String>,
) -> Result<Json<AccountDetail>, HttpError> {
    require_caller(session)?;
    let draft = wizard.load(&id).await.map_err(|e| match e {
        DraftError::NotFound => HttpError::AccountNotFound,
        DraftError::Storage(e) => e.into(),
        other => HttpError::Internal(other.to_string()),
    })?;
    Ok(Json(AccountDetail::from(draft)))
}
