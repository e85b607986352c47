//! The server's side of the portal's server functions (see `mailkey_app::backend`): checks the
//! operator session, calls the wizard, and turns its errors into safe messages.

use axum::http::request::Parts;
use mailkey_app::{
    api::{AccountSummary, NewAccountInfo, OrganisationChoice},
    backend::{set_status, BoxFuture, PortalBackend},
    draft::{AppDetails, AppSource, Draft, MailboxSettings, Step},
    error::PortalError,
    mail_test::{FolderMapping, TestOverview},
    operator_settings::{OperatorAppInput, OperatorSettingsView},
    rules::{dates::Day, Findings, Note},
    server_fns::{OperatorView, StepSaved},
    sign_in::{ConnectionStatus, SignInOutcome},
};

use crate::{
    auth::OperatorSession,
    connection_tests::{ConnectionTests, TestError},
    operator_settings::{OperatorSettings, SettingsError},
    storage::{Store, DEFAULT_ORGANISATION},
    tokens::TokenKeeper,
    wizard::{DraftError, NewAccount, Saved, Wizard},
};

pub struct Portal {
    pub api_keys: crate::api_keys::ApiKeys,
    pub reveals: crate::portal_keys::Reveals,
    pub store: Store,
    pub wizard: Wizard,
    pub tokens: TokenKeeper,
    pub connection_tests: ConnectionTests,
    pub operator_settings: OperatorSettings,
    pub webhooks: crate::webhooks::Webhooks,
    pub connect_sessions: crate::connect::ConnectSessions,
    pub audit: crate::audit::Audit,
}

impl Portal {
    /// The organisation a new account goes into: one that exists, the one of that name, or one
    /// made now (its external ID is its own ID: the portal's organisations have no host to name
    /// them). `true`: made now.
    async fn organisation_for(
        &self,
        choice: OrganisationChoice,
    ) -> Result<(String, bool), PortalError> {
        let storage = |e: crate::storage::StorageError| {
            tracing::error!(error = %e, "organisations: storage failed");
            PortalError::storage_unavailable()
        };
        match choice {
            OrganisationChoice::Existing(id) => match self.store.organisation(&id, None).await {
                Ok(Some(o)) => Ok((o.id, false)),
                Ok(None) => Err(portal_error(DraftError::Invalid(Findings::error(
                    "organisation",
                    "This organisation does not exist (any more): choose another, or name a new one.",
                )))),
                Err(e) => Err(storage(e)),
            },
            OrganisationChoice::New(name) => {
                if name.chars().count() > 200 || name.chars().any(char::is_control) {
                    return Err(portal_error(DraftError::Invalid(Findings::error(
                        "new_organisation",
                        "An organisation's name is one line of at most 200 characters.",
                    ))));
                }
                // A second click, or a name typed again: the same organisation, not another.
                let same = self
                    .store
                    .organisations(None)
                    .await
                    .map_err(storage)?
                    .into_iter()
                    .find(|o| o.name.trim().eq_ignore_ascii_case(name.trim()));
                if let Some(o) = same {
                    return Ok((o.id, false));
                }
                let id = crate::storage::new_organisation_id();
                let (record, _) = self
                    .store
                    .create_organisation(&id, &id, &name)
                    .await
                    .map_err(storage)?;
                tracing::info!(organisation = %record.id, "organisation created in the portal");
                Ok((record.id, true))
            }
        }
    }
}

fn operator_of(request: &Parts) -> Result<&OperatorSession, PortalError> {
    request.extensions.get::<OperatorSession>().ok_or_else(|| {
        // A server function called without a session answers 401, as `/api/v1` does (a page
        // says the same while rendering its "sign in" panel).
        set_status(401);
        PortalError::NotSignedIn
    })
}

/// Connection-test errors as the browser sees them (and the HTTP status it gets).
fn test_error(e: TestError) -> PortalError {
    match e {
        TestError::Invalid(findings) => portal_error(DraftError::Invalid(findings)),
        TestError::NotFound => portal_error(DraftError::NotFound),
        TestError::Storage(e) => portal_error(DraftError::Storage(e)),
        TestError::NotReady => PortalError::Server(e.to_string()),
    }
}

fn settings_error(e: SettingsError) -> PortalError {
    match e {
        SettingsError::Invalid(findings) => portal_error(DraftError::Invalid(findings)),
        SettingsError::Storage(e) => portal_error(DraftError::Storage(e)),
    }
}

/// The one place wizard errors become what the browser sees (and the HTTP status it gets).
fn portal_error(e: DraftError) -> PortalError {
    match e {
        DraftError::Invalid(findings) => {
            if !send_back_plain_form() {
                set_status(422);
            }
            PortalError::Invalid(findings)
        }
        DraftError::NotFound => {
            set_status(404);
            PortalError::NotFound
        }
        // A row this version cannot read (see `storage::DraftRecord`): said as such, not as
        // the database being down.
        DraftError::Storage(crate::storage::StorageError::Corrupt(e)) => {
            tracing::error!(error = %e, "a stored account cannot be read");
            PortalError::Server(
                "This account's saved settings cannot be read by this version of Mailkey. The \
                 operator should check the server log."
                    .into(),
            )
        }
        DraftError::Storage(e) => {
            tracing::error!(error = %e, "storage failed in the wizard");
            PortalError::storage_unavailable()
        }
        DraftError::NoOrganisation => {
            set_status(404);
            PortalError::NotFound
        }
        DraftError::ProviderOff(name) => PortalError::Server(format!(
            "This account uses {name}, which this Mailkey no longer offers. The operator can turn \
             it back on (for the sandbox: sandbox = true)."
        )),
    }
}

/// A browser's plain form post (no wasm): it wants a page back, not JSON.
fn accepts_html(request: &Parts) -> bool {
    request
        .headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"))
}

/// A form posted without the wasm (the browser asked for HTML) cannot show a 422's per-field
/// messages: send it back to its page, which then says nothing was saved. True when it did.
pub(crate) fn send_back_plain_form() -> bool {
    let Some(parts) = leptos::prelude::use_context::<Parts>() else {
        return false;
    };
    let accepts_html = accepts_html(&parts);
    let back = parts
        .headers
        .get(axum::http::header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| url::Url::parse(r).ok());
    match (accepts_html, back) {
        (true, Some(mut back)) => {
            back.set_query(Some("not_saved=1"));
            // Only the path: never redirect off-site on a forged Referer.
            // `//host/path` is a path to a browser's `Location` but another site to it.
            let path = match back.path() {
                p if p.starts_with("//") => "/",
                p => p,
            };
            let target = match back.query() {
                Some(q) => format!("{path}?{q}"),
                None => path.to_string(),
            };
            leptos_axum::redirect(&target);
            true
        }
        _ => false,
    }
}

fn step_saved(id: String, saved: Saved) -> StepSaved {
    StepSaved {
        id,
        next: saved.next,
        warnings: saved.warnings,
    }
}

impl PortalBackend for Portal {
    fn operator_apps<'a>(
        &'a self,
        request: &'a Parts,
    ) -> BoxFuture<'a, Result<OperatorSettingsView, PortalError>> {
        Box::pin(async move {
            operator_of(request)?;
            let apps = self
                .operator_settings
                .overview(Day::today())
                .await
                .map_err(|e| portal_error(DraftError::Storage(e)))?;
            Ok(OperatorSettingsView {
                redirect_uri: self.wizard.redirect_uri().to_string(),
                apps,
            })
        })
    }

    fn save_operator_app<'a>(
        &'a self,
        request: &'a Parts,
        provider: String,
        values: OperatorAppInput,
    ) -> BoxFuture<'a, Result<(), PortalError>> {
        Box::pin(async move {
            operator_of(request)?;
            self.operator_settings
                .save(&provider, values)
                .await
                .map_err(settings_error)?;
            self.tokens.wake_upkeep();
            Ok(())
        })
    }

    fn operator<'a>(
        &'a self,
        request: &'a Parts,
    ) -> BoxFuture<'a, Result<Option<OperatorView>, PortalError>> {
        Box::pin(async move {
            // Asked by every page, signed in or not: no session is an answer here, not a 401.
            Ok(request
                .extensions
                .get::<OperatorSession>()
                .map(|s| OperatorView {
                    signed_in_at: s.signed_in_at,
                    sandbox: self.wizard.providers().sandbox_on(),
                    notices: self.operator_settings.notices(Day::today()),
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

    fn new_account<'a>(
        &'a self,
        request: &'a Parts,
    ) -> BoxFuture<'a, Result<NewAccountInfo, PortalError>> {
        Box::pin(async move {
            operator_of(request)?;
            let mut organisations = self.store.organisations(None).await.map_err(|e| {
                tracing::error!(error = %e, "listing organisations failed");
                PortalError::storage_unavailable()
            })?;
            // The default one first: most operators have no other.
            organisations.sort_by_key(|o| o.id != DEFAULT_ORGANISATION);
            Ok(NewAccountInfo {
                organisations: organisations.into_iter().map(|o| (o.id, o.name)).collect(),
                redirect_uri: self.wizard.redirect_uri().to_string(),
                providers: self
                    .wizard
                    .providers()
                    .offered()
                    .into_iter()
                    .map(|p| (p.id.to_string(), p.name.to_string()))
                    .collect(),
                operator_apps: self
                    .wizard
                    .providers()
                    .offered()
                    .into_iter()
                    .filter_map(|p| {
                        let app = self.wizard.providers().operator_app(p.id)?;
                        Some((p.id.to_string(), app.name.clone(), app.publisher.clone()))
                    })
                    .collect(),
            })
        })
    }

    fn create_draft<'a>(
        &'a self,
        request: &'a Parts,
        provider: String,
        app_source: AppSource,
        organisation: OrganisationChoice,
    ) -> BoxFuture<'a, Result<String, PortalError>> {
        Box::pin(async move {
            operator_of(request)?;
            let (organisation_id, made) = self.organisation_for(organisation).await?;
            let created = self
                .wizard
                .create(NewAccount {
                    provider: provider.clone(),
                    app_source,
                    organisation_id: organisation_id.clone(),
                    external_id: None,
                    name: String::new(),
                    email: String::new(),
                })
                .await;
            let id = match created {
                Ok(c) => c.id,
                Err(e) => {
                    // A refusal leaves nothing behind: not the organisation made for it either.
                    if made {
                        if let Err(e) = self
                            .store
                            .delete_organisation(&organisation_id, false)
                            .await
                        {
                            tracing::warn!(error = %e, "cannot remove an organisation made for a refused account");
                        }
                    }
                    return Err(portal_error(e));
                }
            };
            tracing::info!(account = %id, %provider, app = app_source.as_str(), "account draft created");
            Ok(id)
        })
    }

    fn connection_test<'a>(
        &'a self,
        request: &'a Parts,
        id: String,
    ) -> BoxFuture<'a, Result<TestOverview, PortalError>> {
        Box::pin(async move {
            operator_of(request)?;
            self.connection_tests
                .overview(&id)
                .await
                .map_err(test_error)
        })
    }

    fn save_folders<'a>(
        &'a self,
        request: &'a Parts,
        id: String,
        mapping: FolderMapping,
    ) -> BoxFuture<'a, Result<(), PortalError>> {
        Box::pin(async move {
            operator_of(request)?;
            match self.connection_tests.save_mapping(&id, &mapping).await {
                // The folder form is plain HTML: it returns to itself, saying why.
                Err(TestError::Invalid(findings)) if accepts_html(request) => {
                    leptos_axum::redirect(&format!("/accounts/{id}?folders=not_saved#folders"));
                    Err(PortalError::Invalid(findings))
                }
                other => other.map_err(test_error),
            }
        })
    }

    fn connection<'a>(
        &'a self,
        request: &'a Parts,
        id: String,
    ) -> BoxFuture<'a, Result<ConnectionStatus, PortalError>> {
        Box::pin(async move {
            let session = operator_of(request)?;
            let storage = |e: crate::storage::StorageError| portal_error(DraftError::Storage(e));
            let Some(r) = self.store.draft(&id).await.map_err(storage)? else {
                set_status(404);
                return Err(PortalError::NotFound);
            };
            let latest = self
                .store
                .latest_outcome(&id, &session.id_hash)
                .await
                .map_err(storage)?;
            let (last_attempt, last_finished_at, last_outcome) = match latest {
                Some(l) => (Some(l.row), Some(l.finished_at), Some(l.outcome)),
                None => (None, None, None),
            };
            let protocol = r
                .mailbox
                .as_ref()
                .and_then(|m| mailkey_app::provider::Protocol::parse(m.protocol.trim()))
                .unwrap_or(mailkey_app::provider::Protocol::Imap);
            let mailbox = r.mailbox.map(|m| m.email).unwrap_or_default();
            let connected = r.state == mailkey_app::api::AccountState::Connected;
            Ok(ConnectionStatus {
                state: r.state.as_str().to_string(),
                signed_in_as: r.signed_in_as,
                signed_in_at: r.signed_in_at,
                problem: r.problem,
                last_attempt,
                last_finished_at,
                // Consent reported after the account connected (an administrator using the
                // link late) changes nothing the page should say.
                last_outcome: last_outcome
                    .filter(|o| !(connected && matches!(o, SignInOutcome::ConsentGranted))),
                access_token_expires_at: self.tokens.cached_until(&id),
                refresh_token_stored: r.refresh_token.is_some(),
                prerequisites: crate::mail_test::prerequisites::checklist(&mailbox, protocol),
            })
        })
    }

    fn load_draft<'a>(
        &'a self,
        request: &'a Parts,
        id: String,
    ) -> BoxFuture<'a, Result<Draft, PortalError>> {
        Box::pin(async move {
            operator_of(request)?;
            self.wizard.load(&id).await.map_err(portal_error)
        })
    }

    fn complete_step<'a>(
        &'a self,
        request: &'a Parts,
        id: String,
        step: Step,
    ) -> BoxFuture<'a, Result<StepSaved, PortalError>> {
        Box::pin(async move {
            operator_of(request)?;
            let saved = self
                .wizard
                .complete(&id, step)
                .await
                .map_err(portal_error)?;
            Ok(step_saved(id, saved))
        })
    }

    fn save_app_details<'a>(
        &'a self,
        request: &'a Parts,
        id: String,
        values: AppDetails,
    ) -> BoxFuture<'a, Result<StepSaved, PortalError>> {
        Box::pin(async move {
            operator_of(request)?;
            let saved = crate::setup_steps::save_app(&self.wizard, &self.tokens, &id, values)
                .await
                .map_err(portal_error)?;
            Ok(step_saved(id, saved))
        })
    }

    fn save_mailbox<'a>(
        &'a self,
        request: &'a Parts,
        id: String,
        values: MailboxSettings,
    ) -> BoxFuture<'a, Result<StepSaved, PortalError>> {
        Box::pin(async move {
            operator_of(request)?;
            let saved = crate::setup_steps::save_mailbox(&self.wizard, &self.tokens, &id, values)
                .await
                .map_err(portal_error)?;
            Ok(step_saved(id, saved))
        })
    }

    fn api_keys<'a>(
        &'a self,
        request: &'a Parts,
    ) -> BoxFuture<'a, Result<mailkey_app::api_keys::ApiKeysView, PortalError>> {
        Box::pin(async move {
            let session = operator_of(request)?;
            crate::portal_keys::page(&self.api_keys, &self.store, &self.reveals, session).await
        })
    }

    fn create_api_key<'a>(
        &'a self,
        request: &'a Parts,
        input: mailkey_app::api_keys::NewKeyInput,
    ) -> BoxFuture<'a, Result<(), PortalError>> {
        Box::pin(async move {
            let session = operator_of(request)?;
            crate::portal_keys::create(&self.api_keys, &self.store, &self.reveals, session, input)
                .await
        })
    }

    fn embed_preview<'a>(
        &'a self,
        launch_token: String,
    ) -> BoxFuture<'a, Result<mailkey_app::connect::EmbedPreview, PortalError>> {
        // No operator session: the launch token is the credential, and it is only looked at.
        Box::pin(async move {
            crate::http::embed::preview(&self.connect_sessions, &launch_token)
                .await
                .map_err(|e| {
                    tracing::error!(error = %e, "reading a connect session failed");
                    PortalError::storage_unavailable()
                })
        })
    }

    fn audit_trail<'a>(
        &'a self,
        request: &'a Parts,
        query: mailkey_app::audit::AuditQuery,
    ) -> BoxFuture<'a, Result<mailkey_app::audit::AuditView, PortalError>> {
        Box::pin(async move {
            operator_of(request)?;
            crate::portal_audit::page(&self.store, &self.audit, query).await
        })
    }

    fn notice_settings<'a>(
        &'a self,
        request: &'a Parts,
    ) -> BoxFuture<'a, Result<mailkey_app::notice_mail::NoticeSettingsView, PortalError>> {
        Box::pin(async move {
            operator_of(request)?;
            crate::portal_notices::view(&self.store).await
        })
    }

    fn save_notice_settings<'a>(
        &'a self,
        request: &'a Parts,
        sender: String,
        own_address: String,
    ) -> BoxFuture<'a, Result<(), PortalError>> {
        Box::pin(async move {
            operator_of(request)?;
            crate::portal_notices::save(&self.store, &sender, &own_address).await
        })
    }

    fn webhooks<'a>(
        &'a self,
        request: &'a Parts,
    ) -> BoxFuture<'a, Result<mailkey_app::webhooks::WebhooksView, PortalError>> {
        Box::pin(async move {
            operator_of(request)?;
            crate::portal_webhooks::page(&self.store).await
        })
    }

    fn send_webhook_test<'a>(
        &'a self,
        request: &'a Parts,
        endpoint: String,
    ) -> BoxFuture<'a, Result<(), PortalError>> {
        Box::pin(async move {
            operator_of(request)?;
            crate::portal_webhooks::send_test(&self.webhooks, &endpoint).await
        })
    }

    fn redeliver_webhook<'a>(
        &'a self,
        request: &'a Parts,
        endpoint: String,
        delivery: i64,
    ) -> BoxFuture<'a, Result<(), PortalError>> {
        Box::pin(async move {
            operator_of(request)?;
            crate::portal_webhooks::redeliver(&self.webhooks, &endpoint, delivery).await
        })
    }

    fn revoke_api_key<'a>(
        &'a self,
        request: &'a Parts,
        id: String,
    ) -> BoxFuture<'a, Result<(), PortalError>> {
        Box::pin(async move {
            operator_of(request)?;
            crate::portal_keys::revoke(&self.api_keys, &id).await
        })
    }

    fn delete_account<'a>(
        &'a self,
        request: &'a Parts,
        id: String,
    ) -> BoxFuture<'a, Result<(), PortalError>> {
        Box::pin(async move {
            operator_of(request)?;
            let flight = self.tokens.flight(&id);
            let _turn = flight.lock().await;
            let gone = self.store.delete_account(&id).await.map_err(|e| {
                tracing::error!(error = %e, "deleting an account failed");
                PortalError::storage_unavailable()
            })?;
            if !gone {
                set_status(404);
                return Err(PortalError::NotFound);
            }
            self.tokens.forget(&id);
            tracing::info!(account = %id, "account deleted: its secrets, sign-in and history are gone");
            Ok(())
        })
    }

    fn lookup_tenant<'a>(
        &'a self,
        request: &'a Parts,
        id: String,
        tenant: String,
    ) -> BoxFuture<'a, Result<Result<String, Note>, PortalError>> {
        Box::pin(async move {
            operator_of(request)?;
            self.wizard
                .lookup_tenant(&id, &tenant)
                .await
                .map_err(portal_error)
        })
    }
}
