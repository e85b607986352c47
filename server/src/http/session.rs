//! Resolves the operator session cookie once per request, for the routes that need it (pages,
//! server functions, the API), and leaves an [`OperatorSession`] in the request's extensions.

use axum::{
    extract::{Request, State},
    middleware::Next,
    response::{IntoResponse, Response},
};

use super::error::HttpError;
use crate::auth::{cookie, OperatorAccess};

pub async fn resolve(
    State(access): State<OperatorAccess>,
    mut req: Request,
    next: Next,
) -> Response {
    if let Some(value) = cookie::read(req.headers(), access.secure_cookies()) {
        match access.session(&value).await {
            Ok(Some(session)) => {
                req.extensions_mut().insert(session);
            }
            Ok(None) => {}
            Err(e) => return HttpError::Storage(e).into_response(),
        }
    }
    next.run(req).await
}
