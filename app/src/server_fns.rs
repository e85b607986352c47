//! The portal's server functions: called directly during server rendering and over HTTP (under
//! [`crate::SERVER_FN_PREFIX`]) from the browser.

// A server function's arguments are its form's fields, one each, so that forms post to it without
// the wasm: a long list is the point, not a smell.
#![allow(clippy::too_many_arguments)]

#[cfg(feature = "ssr")]
use crate::draft::{AppDetails, MailboxSettings};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::{
    api::{AccountSummary, NewAccountInfo},
    draft::{Draft, Step},
    error::PortalError,
    mail_test::TestOverview,
    rules::{Findings, Note},
    sign_in::ConnectionStatus,
};

/// The signed-in operator, as the pages show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorView {
    /// Seconds since the Unix epoch.
    pub signed_in_at: i64,
    /// The sandbox identity provider is on: every page says so.
    pub sandbox: bool,
    /// What every page must tell the operator (an operator app's secret expiring).
    #[serde(default)]
    pub notices: Vec<Note>,
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

/// What saving a step answers: where to go next and the warnings the admin should still read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepSaved {
    pub id: String,
    pub next: Step,
    pub warnings: Findings,
}

impl StepSaved {
    pub fn next_path(&self) -> String {
        step_path(&self.id, self.next)
    }
}

/// The address of a wizard step.
pub fn step_path(id: &str, step: Step) -> String {
    format!("/accounts/{id}/setup/{}", step.number())
}

/// Sends a plain form post (no wasm yet) on to the next step; with the wasm, the page navigates.
#[cfg(feature = "ssr")]
fn go_on(saved: &StepSaved) {
    crate::backend::redirect(&saved.next_path());
}

/// The wizard's "Next" on step 1 for a new account: creates the draft, in the organisation
/// chosen (or a new one named there; without either, the default one). "Use <the operator's
/// app>" is a second submit button of the same form: `one_click` carries its provider.
#[server(prefix = "/_fn", endpoint = "accounts/create")]
pub async fn create_draft(
    provider: Option<String>,
    #[server(default)] app_source: String,
    #[server(default)] one_click: Option<String>,
    #[server(default)] organisation: String,
    #[server(default)] new_organisation: String,
) -> Result<StepSaved, PortalError> {
    let (backend, parts) = crate::backend::request_context()?;
    let (provider, app_source) = match one_click {
        Some(p) => (Some(p), "operator".to_string()),
        None => (provider, app_source),
    };
    let provider = provider.unwrap_or_else(|| crate::provider::MICROSOFT_365.id.to_string());
    let organisation = match (new_organisation.trim(), organisation.trim()) {
        ("", "") => crate::api::OrganisationChoice::Existing("org_default".into()),
        ("", id) => crate::api::OrganisationChoice::Existing(id.to_string()),
        (name, _) => crate::api::OrganisationChoice::New(name.to_string()),
    };
    let Some(app_source) = (match app_source.as_str() {
        "" => Some(crate::draft::AppSource::Own),
        s => crate::draft::AppSource::parse(s),
    }) else {
        let f = Findings::error(
            "app_source",
            "Choose whose app the account signs in with: \"operator\" or \"own\".",
        );
        crate::backend::set_status(422);
        return Err(PortalError::Invalid(f));
    };
    let id = backend
        .0
        .create_draft(&parts, provider, app_source, organisation)
        .await?;
    let saved = backend.0.complete_step(&parts, id, Step::Register).await?;
    go_on(&saved);
    Ok(saved)
}

#[server(prefix = "/_fn", endpoint = "accounts/draft")]
pub async fn load_draft(id: String) -> Result<Draft, PortalError> {
    let (backend, parts) = crate::backend::request_context()?;
    backend.0.load_draft(&parts, id).await
}

/// "Next" on a step without values (1: instructions, 3: redirect URI).
#[server(prefix = "/_fn", endpoint = "accounts/step")]
pub async fn complete_step(id: String, step: u8) -> Result<StepSaved, PortalError> {
    let (backend, parts) = crate::backend::request_context()?;
    let step = Step::from_number(step)
        .filter(|s| matches!(s, Step::Register | Step::RedirectUri))
        .ok_or_else(|| {
            PortalError::Server("This step has values; save it with its form.".into())
        })?;
    let saved = backend.0.complete_step(&parts, id, step).await?;
    go_on(&saved);
    Ok(saved)
}

/// Step 2. Field names are the form's input names.
#[server(prefix = "/_fn", endpoint = "accounts/app")]
pub async fn save_app_details(
    id: String,
    #[server(default)] tenant: String,
    client_id: String,
    #[server(default)] app_name: String,
    #[server(default)] client_secret: String,
    #[server(default)] secret_expires: String,
    #[server(default)] custom_endpoints: Option<String>,
    #[server(default)] authorize_url: String,
    #[server(default)] token_url: String,
) -> Result<StepSaved, PortalError> {
    let (backend, parts) = crate::backend::request_context()?;
    let values = AppDetails {
        tenant,
        client_id,
        app_name,
        client_secret,
        secret_expires,
        custom_endpoints: custom_endpoints.is_some_and(|v| !v.is_empty() && v != "false"),
        authorize_url,
        token_url,
    };
    let saved = backend.0.save_app_details(&parts, id, values).await?;
    go_on(&saved);
    Ok(saved)
}

/// Step 4.
#[server(prefix = "/_fn", endpoint = "accounts/mailbox")]
pub async fn save_mailbox(
    id: String,
    #[server(default)] account_name: String,
    email: String,
    #[server(default)] reply_to: String,
    smtp_host: String,
    smtp_port: String,
    smtp_security: String,
    protocol: String,
    imap_host: String,
    imap_port: String,
    imap_security: String,
    root_folder: String,
    timeout_minutes: String,
    scopes: String,
) -> Result<StepSaved, PortalError> {
    let (backend, parts) = crate::backend::request_context()?;
    let values = MailboxSettings {
        account_name,
        email,
        reply_to,
        smtp_host,
        smtp_port,
        smtp_security,
        protocol,
        imap_host,
        imap_port,
        imap_security,
        root_folder,
        timeout_minutes,
        scopes,
    };
    let saved = backend.0.save_mailbox(&parts, id, values).await?;
    go_on(&saved);
    Ok(saved)
}

/// The Tenant field's lookup as the admin leaves it: `Ok(tenant id)` or the reason it failed.
#[server(prefix = "/_fn", endpoint = "tenant")]
pub async fn lookup_tenant(
    id: String,
    tenant: String,
) -> Result<Result<String, Note>, PortalError> {
    let (backend, parts) = crate::backend::request_context()?;
    backend.0.lookup_tenant(&parts, id, tenant).await
}

/// The redirect URI and the providers offered, for step 1 before a draft exists.
#[server(prefix = "/_fn", endpoint = "accounts/new")]
pub async fn new_account() -> Result<NewAccountInfo, PortalError> {
    let (backend, parts) = crate::backend::request_context()?;
    backend.0.new_account(&parts).await
}

/// The account's sign-in: who, when, and how this browser's latest attempt ended. The wizard
/// polls it while the sign-in window is open, so it learns the result without `window.opener`.
#[server(prefix = "/_fn", endpoint = "accounts/connection")]
pub async fn connection(id: String) -> Result<ConnectionStatus, PortalError> {
    let (backend, parts) = crate::backend::request_context()?;
    backend.0.connection(&parts, id).await
}

/// The account's latest connection test and its folder mapping.
#[server(prefix = "/_fn", endpoint = "accounts/connection-test")]
pub async fn connection_test(id: String) -> Result<TestOverview, PortalError> {
    let (backend, parts) = crate::backend::request_context()?;
    backend.0.connection_test(&parts, id).await
}

/// "Save folders": a plain form post (the page needs no wasm for it), one field per role; an
/// empty field means the mailbox has no such folder. On success the browser goes to the
/// account's page.
#[server(prefix = "/_fn", endpoint = "accounts/folders")]
pub async fn save_folders(
    id: String,
    #[server(default)] inbox: String,
    #[server(default)] sent: String,
    #[server(default)] drafts: String,
    #[server(default)] trash: String,
    #[server(default)] junk: String,
    #[server(default)] archive: String,
) -> Result<(), PortalError> {
    let (backend, parts) = crate::backend::request_context()?;
    let chosen = |s: String| Some(s.trim().to_string()).filter(|s| !s.is_empty());
    let mapping = crate::mail_test::FolderMapping {
        inbox: chosen(inbox),
        sent: chosen(sent),
        drafts: chosen(drafts),
        trash: chosen(trash),
        junk: chosen(junk),
        archive: chosen(archive),
    };
    backend.0.save_folders(&parts, id.clone(), mapping).await?;
    crate::backend::redirect(&format!("/accounts/{id}?folders=saved#folders"));
    Ok(())
}

/// The operator settings page: the redirect URI and each provider's own multi-tenant app.
#[server(prefix = "/_fn", endpoint = "settings/operator-apps")]
pub async fn operator_apps() -> Result<crate::operator_settings::OperatorSettingsView, PortalError>
{
    let (backend, parts) = crate::backend::request_context()?;
    backend.0.operator_apps(&parts).await
}

/// "Save" on the settings page, one field per form input. An empty secret keeps the stored one;
/// the secret is never sent back.
#[server(prefix = "/_fn", endpoint = "settings/operator-app")]
pub async fn save_operator_app(
    provider: String,
    #[server(default)] client_id: String,
    #[server(default)] name: String,
    #[server(default)] publisher: String,
    #[server(default)] client_secret: String,
    #[server(default)] secret_expires: String,
) -> Result<(), PortalError> {
    let (backend, parts) = crate::backend::request_context()?;
    let values = crate::operator_settings::OperatorAppInput {
        client_id,
        name,
        publisher,
        client_secret,
        secret_expires,
    };
    backend
        .0
        .save_operator_app(&parts, provider.clone(), values)
        .await?;
    crate::backend::redirect(&settings_saved_path(&provider));
    Ok(())
}

/// The settings page's notice e-mail section.
#[server(prefix = "/_fn", endpoint = "settings/notices")]
pub async fn notice_settings() -> Result<crate::notice_mail::NoticeSettingsView, PortalError> {
    let (backend, parts) = crate::backend::request_context()?;
    backend.0.notice_settings(&parts).await
}

/// "Save" in the notice e-mail section (a plain form). A refused value comes back to the page
/// named in the address, with nothing saved.
#[server(prefix = "/_fn", endpoint = "settings/notices/save")]
pub async fn save_notice_settings(
    #[server(default)] sender: String,
    #[server(default)] own_address: String,
) -> Result<(), PortalError> {
    let (backend, parts) = crate::backend::request_context()?;
    match backend
        .0
        .save_notice_settings(&parts, sender, own_address)
        .await
    {
        Ok(()) => crate::backend::redirect("/settings?saved=notices#notices"),
        Err(PortalError::Invalid(findings)) => {
            let field = findings
                .errors()
                .next()
                .map(|(f, _)| f.to_string())
                .unwrap_or_default();
            crate::backend::redirect(&format!("/settings?notice_problem={field}#notices"));
        }
        Err(e) => return Err(e),
    }
    Ok(())
}

/// Where the settings page shows a saved app.
pub fn settings_saved_path(provider: &str) -> String {
    format!("/settings?saved={provider}#app-{provider}")
}

/// "Delete this account" on its confirmation page (a plain form): forgets the account, its
/// sealed client secret and refresh token, its sign-ins and test history, then goes home.
#[server(prefix = "/_fn", endpoint = "accounts/delete")]
pub async fn delete_account(id: String) -> Result<(), PortalError> {
    let (backend, parts) = crate::backend::request_context()?;
    backend.0.delete_account(&parts, id).await?;
    crate::backend::redirect("/?deleted=1");
    Ok(())
}
