//! The HTTP layer's one error type. Each variant becomes a JSON body with a stable `code` and a
//! message for a person; internal details go to the log only.

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use mailkey_app::api::{ErrorBody, ErrorDetail};

use crate::storage::StorageError;

impl From<&mailkey_app::rules::Findings> for HttpError {
    /// The wizard's refusals in the API's terms: each field's error.
    fn from(f: &mailkey_app::rules::Findings) -> HttpError {
        HttpError::InvalidFields(
            f.errors()
                .map(|(field, message)| (field.to_string(), message.to_string()))
                .collect(),
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("not signed in")]
    Unauthorized,
    /// Missing, malformed, unknown or revoked API key: one answer for all.
    #[error("no valid API key")]
    BadKey,
    #[error("the API key lacks a scope")]
    MissingScope(&'static str),
    #[error("the request body is not valid")]
    InvalidBody(String),
    #[error("the query is not valid")]
    InvalidQuery(String),
    /// Well-formed, but some values are refused: each field with what is wrong.
    #[error("some values are not valid")]
    InvalidFields(std::collections::BTreeMap<String, String>),
    /// The mailbox's user must sign in again (or never did).
    #[error("the account needs its user again")]
    NeedsReconnect { reason: String },
    /// Microsoft cannot give a token now; worth trying again at `retry_after_secs`.
    #[error("the identity provider is unavailable")]
    ProviderUnavailable {
        code: &'static str,
        reason: String,
        retry_after_secs: u64,
    },
    #[error("cross-origin request refused")]
    CrossOrigin { origin: String, expected: String },
    #[error("request for another host name refused")]
    ForeignHost { host: String, expected: String },
    #[error("too many requests")]
    RateLimited { retry_after_secs: u64 },
    /// The account's own budget of connection tests, whoever asks.
    #[error("too many tests of this account")]
    TestsLimited { retry_after_secs: u64 },
    #[error("too many open event streams")]
    TooManyStreams,
    #[error("not found")]
    NotFound,
    #[error("no such account")]
    AccountNotFound,
    /// The organisation's account with this external ID connects another mailbox.
    #[error("the external ID is taken by another mailbox's account")]
    ExternalIdTaken {
        external_id: String,
        account_id: String,
        email: String,
    },
    #[error("no such organisation")]
    OrganisationNotFound,
    /// An embedded page's session credential is missing, unknown or expired.
    #[error("the embedded session ended")]
    EmbedSessionEnded,
    /// The embedded page may not set this account's app registration (set already, or a
    /// reconnect session).
    #[error("the app registration is set already")]
    AppAlreadySet,
    /// The host revoked the embedded page's session.
    #[error("the embedded session was revoked")]
    EmbedSessionRevoked,
    /// A launch token that cannot be used (again).
    #[error("launch token refused")]
    LaunchRefused(crate::connect::Refusal),
    #[error("a connection test is running")]
    TestRunning,
    #[error("no such webhook endpoint")]
    WebhookEndpointNotFound,
    #[error("no such delivery")]
    DeliveryNotFound,
    #[error("the organisation has accounts")]
    OrganisationNotEmpty(i64),
    /// A key restricted to one organisation asked for something beyond it.
    #[error("the key is restricted to one organisation")]
    RestrictedKey,
    /// Logged in full; the caller gets a generic message.
    #[error("internal: {0}")]
    Internal(String),
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
}

impl HttpError {
    fn parts(&self) -> (StatusCode, &'static str, String) {
        match self {
            HttpError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "Sign in first: open the operator setup link Mailkey printed on its terminal, or run \
                 `mailkey admin link` on the server."
                    .into(),
            ),
            HttpError::BadKey => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "No valid API key: send `Authorization: Bearer mk_live_…` with a key the operator \
                 made (`mailkey api-key create`) and has not revoked."
                    .into(),
            ),
            HttpError::MissingScope(scope) => (
                StatusCode::FORBIDDEN,
                "forbidden",
                format!(
                    "This API key may not do this: it needs the scope {scope}. Ask the operator for \
                     a key with it (`mailkey api-key create --scope {scope}`)."
                ),
            ),
            HttpError::InvalidQuery(why) => (
                StatusCode::BAD_REQUEST,
                "invalid_query",
                format!("The query is not valid: {why}."),
            ),
            HttpError::InvalidBody(why) => (
                StatusCode::BAD_REQUEST,
                "invalid_body",
                format!("The request body is not valid: {why}."),
            ),
            HttpError::InvalidFields(fields) => (
                StatusCode::BAD_REQUEST,
                "invalid_fields",
                format!(
                    "Nothing was saved: {} not accepted (see fields).",
                    fields.keys().map(String::as_str).collect::<Vec<_>>().join(", ")
                ),
            ),
            HttpError::NeedsReconnect { reason } => (
                StatusCode::CONFLICT,
                "needs_reconnect",
                format!(
                    "The mailbox must sign in again before Mailkey can give tokens for it: \
                     {reason}. Show your user the way to reconnect it."
                ),
            ),
            HttpError::ProviderUnavailable {
                code,
                reason,
                retry_after_secs,
            } => (
                StatusCode::SERVICE_UNAVAILABLE,
                code,
                format!("No token can be had right now: {reason}. Try again in {retry_after_secs} s."),
            ),
            HttpError::CrossOrigin { origin, expected } => (
                StatusCode::FORBIDDEN,
                "cross_origin_request",
                format!(
                    "This request came from another site ({origin}) and was refused. Use \
                     Mailkey at {expected}; if that is where you are, set public_url to the \
                     address in your browser's address bar."
                ),
            ),
            HttpError::ForeignHost { host, expected } => (
                StatusCode::BAD_REQUEST,
                "foreign_host",
                format!(
                    "This request was addressed to \"{}\", which is not this Mailkey's address, \
                     and was refused (a page of another site can point its own name at \
                     Mailkey). Open Mailkey at {expected} or http://localhost; to reach it under \
                     another name, set public_url to that address.",
                    host.chars().take(100).collect::<String>()
                ),
            ),
            HttpError::RateLimited { retry_after_secs } => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!(
                    "Too many requests of this kind from here. Wait {retry_after_secs} seconds, \
                     then try again."
                ),
            ),
            HttpError::TestsLimited { retry_after_secs } => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!(
                    "This account was tested five times in the last few minutes, and each test \
                     sends a real message through its mailbox. Wait {retry_after_secs} seconds, \
                     then test again."
                ),
            ),
            HttpError::TooManyStreams => (
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_streams",
                "This browser session has too many live views open (sign-in or connection \
                 test). Close some tabs of Mailkey, then reload."
                    .into(),
            ),
            HttpError::NotFound => (
                StatusCode::NOT_FOUND,
                "not_found",
                "There is no such API endpoint. The API is documented in the README.".into(),
            ),
            HttpError::ExternalIdTaken {
                external_id,
                account_id,
                email,
            } => (
                StatusCode::CONFLICT,
                "external_id_taken",
                format!(
                    "The organisation's account with external_id \"{external_id}\" ({account_id}) \
                     connects {email}. Give another mailbox its own external_id, or delete that \
                     account first (DELETE /api/v1/accounts/{account_id})."
                ),
            ),
            HttpError::AccountNotFound => (
                StatusCode::NOT_FOUND,
                "account_not_found",
                "There is no account with this ID. `GET /api/v1/accounts` lists them.".into(),
            ),
            HttpError::OrganisationNotFound => (
                StatusCode::NOT_FOUND,
                "organisation_not_found",
                "There is no organisation with this ID. `GET /api/v1/organisations` lists them."
                    .into(),
            ),
            HttpError::EmbedSessionEnded => (
                StatusCode::UNAUTHORIZED,
                "session_ended",
                "This page's session ended (they last a few minutes). Start the connection again \
                 from the application."
                    .into(),
            ),
            HttpError::AppAlreadySet => (
                StatusCode::CONFLICT,
                "app_already_set",
                "This account's app registration is set already: it only signs in. Change it in \
                 Mailkey's portal."
                    .into(),
            ),
            HttpError::EmbedSessionRevoked => (
                StatusCode::UNAUTHORIZED,
                "session_revoked",
                "The application withdrew this connection page. Start the connection again \
                 from the application."
                    .into(),
            ),
            HttpError::LaunchRefused(why) => {
                (StatusCode::GONE, why.code(), why.words().to_string())
            }
            HttpError::TestRunning => (
                StatusCode::CONFLICT,
                "test_running",
                "A test of this account is running; wait for it to finish.".into(),
            ),
            HttpError::WebhookEndpointNotFound => (
                StatusCode::NOT_FOUND,
                "webhook_endpoint_not_found",
                "There is no webhook endpoint with this ID. `GET /api/v1/webhook-endpoints` \
                 lists them."
                    .into(),
            ),
            HttpError::DeliveryNotFound => (
                StatusCode::NOT_FOUND,
                "delivery_not_found",
                "This endpoint has no delivery with this ID. `GET \
                 /api/v1/webhook-endpoints/{id}/deliveries` lists them."
                    .into(),
            ),
            HttpError::OrganisationNotEmpty(n) => (
                StatusCode::CONFLICT,
                "organisation_not_empty",
                format!(
                    "The organisation still has {n} account(s). Delete them first, or ask for \
                     them to go with it: DELETE …?delete_accounts=true (final)."
                ),
            ),
            HttpError::RestrictedKey => (
                StatusCode::FORBIDDEN,
                "forbidden",
                "This API key is restricted to one organisation and may not create others."
                    .into(),
            ),
            HttpError::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Mailkey could not answer this request; the operator can find details in the \
                 server log."
                    .into(),
            ),
            // A row this version cannot read (or a value it cannot write) is not the database
            // being down: retrying will not help, so it is not a 503.
            HttpError::Storage(
                crate::storage::StorageError::Corrupt(_) | crate::storage::StorageError::Encode(_),
            ) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Mailkey could not read this account's stored data (this version does not \
                 understand it); the operator can find details in the server log."
                    .into(),
            ),
            HttpError::Storage(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "storage_unavailable",
                "Mailkey could not reach its database. Try again in a moment.".into(),
            ),
        }
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let (status, code, message) = self.parts();
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        }
        let fields = match &self {
            HttpError::InvalidFields(f) => Some(f.clone()),
            _ => None,
        };
        let body = ErrorBody {
            error: ErrorDetail {
                code: code.into(),
                message,
                fields,
            },
        };
        let mut res = (status, Json(body)).into_response();
        if let HttpError::RateLimited { retry_after_secs }
        | HttpError::TestsLimited { retry_after_secs }
        | HttpError::ProviderUnavailable {
            retry_after_secs, ..
        } = self
        {
            res.headers_mut()
                .insert(axum::http::header::RETRY_AFTER, retry_after_secs.into());
        }
        res
    }
}

impl From<crate::webhooks::WebhookError> for HttpError {
    fn from(e: crate::webhooks::WebhookError) -> HttpError {
        use crate::webhooks::WebhookError as W;
        match e {
            W::Invalid(fields) => HttpError::InvalidFields(fields),
            W::NotFound => HttpError::WebhookEndpointNotFound,
            W::DeliveryNotFound => HttpError::DeliveryNotFound,
            W::Storage(e) => HttpError::Storage(e),
        }
    }
}
