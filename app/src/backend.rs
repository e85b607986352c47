//! The seam between the portal's server functions (declared here, so the browser can call them)
//! and the server crate that owns storage and sessions. The server provides a [`Backend`] in the
//! Leptos context; server functions look it up and pass the request along.

use std::{future::Future, pin::Pin, sync::Arc};

use http::request::Parts;
use leptos::prelude::use_context;

use crate::{
    api::{AccountSummary, NewAccountInfo},
    draft::{AppDetails, AppSource, Draft, MailboxSettings, Step},
    error::PortalError,
    mail_test::{FolderMapping, TestOverview},
    operator_settings::{OperatorAppInput, OperatorSettingsView},
    rules::Note,
    server_fns::{OperatorView, StepSaved},
    sign_in::ConnectionStatus,
};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What the portal's pages need from the server. Each method receives the request so the server
/// can authenticate it.
pub trait PortalBackend: Send + Sync + 'static {
    /// The API keys page: every key, and a just-made key's secret once.
    fn api_keys<'a>(
        &'a self,
        request: &'a Parts,
    ) -> BoxFuture<'a, Result<crate::api_keys::ApiKeysView, PortalError>>;
    fn create_api_key<'a>(
        &'a self,
        request: &'a Parts,
        input: crate::api_keys::NewKeyInput,
    ) -> BoxFuture<'a, Result<(), PortalError>>;
    fn revoke_api_key<'a>(
        &'a self,
        request: &'a Parts,
        id: String,
    ) -> BoxFuture<'a, Result<(), PortalError>>;
    /// The audit trail page: the lines a query selects, newest first.
    fn audit_trail<'a>(
        &'a self,
        request: &'a Parts,
        query: crate::audit::AuditQuery,
    ) -> BoxFuture<'a, Result<crate::audit::AuditView, PortalError>>;
    /// The settings page's notice e-mails: the sending mailbox, the own organisation's address
    /// and the latest notices.
    fn notice_settings<'a>(
        &'a self,
        request: &'a Parts,
    ) -> BoxFuture<'a, Result<crate::notice_mail::NoticeSettingsView, PortalError>>;
    /// Saves them: an empty `sender` stops notice e-mails, an empty address clears it.
    fn save_notice_settings<'a>(
        &'a self,
        request: &'a Parts,
        sender: String,
        own_address: String,
    ) -> BoxFuture<'a, Result<(), PortalError>>;
    /// The webhooks page: every endpoint with its latest deliveries.
    fn webhooks<'a>(
        &'a self,
        request: &'a Parts,
    ) -> BoxFuture<'a, Result<crate::webhooks::WebhooksView, PortalError>>;
    fn send_webhook_test<'a>(
        &'a self,
        request: &'a Parts,
        endpoint: String,
    ) -> BoxFuture<'a, Result<(), PortalError>>;
    fn redeliver_webhook<'a>(
        &'a self,
        request: &'a Parts,
        endpoint: String,
        delivery: i64,
    ) -> BoxFuture<'a, Result<(), PortalError>>;
    /// What an embedded wizard's launch token may still do, without using it.
    fn embed_preview<'a>(
        &'a self,
        launch_token: String,
    ) -> BoxFuture<'a, Result<crate::connect::EmbedPreview, PortalError>>;
    fn operator<'a>(
        &'a self,
        request: &'a Parts,
    ) -> BoxFuture<'a, Result<Option<OperatorView>, PortalError>>;
    fn list_accounts<'a>(
        &'a self,
        request: &'a Parts,
    ) -> BoxFuture<'a, Result<Vec<AccountSummary>, PortalError>>;
    fn new_account<'a>(
        &'a self,
        request: &'a Parts,
    ) -> BoxFuture<'a, Result<NewAccountInfo, PortalError>>;
    fn create_draft<'a>(
        &'a self,
        request: &'a Parts,
        provider: String,
        app_source: AppSource,
        organisation: crate::api::OrganisationChoice,
    ) -> BoxFuture<'a, Result<String, PortalError>>;
    /// The account's sign-in state, and this browser's latest attempt.
    fn connection<'a>(
        &'a self,
        request: &'a Parts,
        id: String,
    ) -> BoxFuture<'a, Result<ConnectionStatus, PortalError>>;
    /// The latest connection test and the folder mapping.
    fn connection_test<'a>(
        &'a self,
        request: &'a Parts,
        id: String,
    ) -> BoxFuture<'a, Result<TestOverview, PortalError>>;
    /// Saves the folder mapping if every folder is one the latest passing test found.
    fn save_folders<'a>(
        &'a self,
        request: &'a Parts,
        id: String,
        mapping: FolderMapping,
    ) -> BoxFuture<'a, Result<(), PortalError>>;
    fn load_draft<'a>(
        &'a self,
        request: &'a Parts,
        id: String,
    ) -> BoxFuture<'a, Result<Draft, PortalError>>;
    /// Marks a step without values (instructions, redirect URI) as done.
    fn complete_step<'a>(
        &'a self,
        request: &'a Parts,
        id: String,
        step: Step,
    ) -> BoxFuture<'a, Result<StepSaved, PortalError>>;
    fn save_app_details<'a>(
        &'a self,
        request: &'a Parts,
        id: String,
        values: AppDetails,
    ) -> BoxFuture<'a, Result<StepSaved, PortalError>>;
    fn save_mailbox<'a>(
        &'a self,
        request: &'a Parts,
        id: String,
        values: MailboxSettings,
    ) -> BoxFuture<'a, Result<StepSaved, PortalError>>;
    /// The operator's own app of each offered provider, never its secret.
    fn operator_apps<'a>(
        &'a self,
        request: &'a Parts,
    ) -> BoxFuture<'a, Result<OperatorSettingsView, PortalError>>;
    /// Saves a provider's operator app from the settings page.
    fn save_operator_app<'a>(
        &'a self,
        request: &'a Parts,
        provider: String,
        values: OperatorAppInput,
    ) -> BoxFuture<'a, Result<(), PortalError>>;
    /// Forgets an account for good: its sealed secrets, sign-in and history. Returns the name
    /// and mailbox it had, for the page that says it is gone.
    fn delete_account<'a>(
        &'a self,
        request: &'a Parts,
        id: String,
    ) -> BoxFuture<'a, Result<(), PortalError>>;
    /// Resolves a tenant domain to its ID: `Ok(Ok(id))` found, `Ok(Err(note))` why not.
    fn lookup_tenant<'a>(
        &'a self,
        request: &'a Parts,
        id: String,
        tenant: String,
    ) -> BoxFuture<'a, Result<Result<String, Note>, PortalError>>;
}

#[derive(Clone)]
pub struct Backend(pub Arc<dyn PortalBackend>);

/// Sets the HTTP status of the page being rendered (the server supplies it, since only it knows
/// the HTTP integration). Pages use it for 401 and 404.
#[derive(Clone)]
pub struct ResponseStatus(pub Arc<dyn Fn(u16) + Send + Sync>);

pub fn set_status(code: u16) {
    if let Some(status) = use_context::<ResponseStatus>() {
        (status.0)(code);
    }
}

/// Lets the page being rendered be framed by these origins (the embedded wizard's session's).
pub type SetFrameAncestors = dyn Fn(&[String]) + Send + Sync;

#[derive(Clone)]
pub struct FrameAncestors(pub Arc<SetFrameAncestors>);

pub fn set_frame_ancestors(origins: &[String]) {
    if let Some(f) = use_context::<FrameAncestors>() {
        (f.0)(origins);
    }
}

/// Sends the browser elsewhere after a server function: a real redirect for a plain form post
/// (no wasm yet), client-side navigation otherwise. The server supplies it.
#[derive(Clone)]
pub struct Redirect(pub Arc<dyn Fn(&str) + Send + Sync>);

pub fn redirect(path: &str) {
    if let Some(r) = use_context::<Redirect>() {
        (r.0)(path);
    }
}

/// The backend and the current request, as every server function needs them.
pub fn request_context() -> Result<(Backend, Parts), PortalError> {
    let backend = use_context::<Backend>().ok_or_else(|| {
        PortalError::Server("Mailkey's server is misconfigured: no backend.".into())
    })?;
    let parts = use_context::<Parts>().ok_or_else(|| {
        PortalError::Server("Mailkey's server is misconfigured: no request.".into())
    })?;
    Ok((backend, parts))
}
