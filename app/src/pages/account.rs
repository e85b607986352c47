//! `/accounts/:id`: a connected account at a glance: the mailbox, who signed in and when, the
//! tokens' state, "sign in again", and the way to its settings.

use leptos::{prelude::*, server_fn::ServerFn};
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use crate::{
    components::layout::NoteAlert,
    draft::{Draft, Step},
    error::PortalError,
    pages::{
        home::SignInRequired,
        wizard::{connection_test::ConnectionTestSection, sign_in::SignInSection},
    },
    renew::{renew_path, RenewProblem, RenewSecret},
    rules::{dates::Day, secret::saved_expiry_notice},
    server_fns::{load_draft, step_path, DeleteAccount},
};

#[component]
pub fn AccountPage() -> AnyView {
    with_account(|d| view! { <Account draft=d/> }.into_any())
}

/// A page about the account in the address: loads it, then `show`s it, or says why not.
fn with_account(show: fn(Draft) -> AnyView) -> AnyView {
    let params = use_params_map();
    let draft = Resource::new(
        move || params.with(|p| p.get("id").unwrap_or_default()),
        load_draft,
    );
    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading the account…"</p> }>
            {move || Suspend::new(async move {
                match draft.await {
                    Ok(d) => show(d),
                    Err(PortalError::NotSignedIn) => view! { <SignInRequired/> }.into_any(),
                    Err(e) => view! { <Unavailable error=e/> }.into_any(),
                }
            })}
        </Suspense>
    }
    .into_any()
}

/// An account that cannot be shown (unknown ID, storage down), with the way back.
#[component]
pub fn Unavailable(error: PortalError) -> impl IntoView {
    view! {
        <section class="panel">
            <h1>"Account not available"</h1>
            <p class="alert alert-error" role="alert">{error.to_string()}</p>
            <a class="button button-secondary" href="/">"Back to mailboxes"</a>
        </section>
    }
}

#[component]
fn Account(draft: Draft) -> AnyView {
    let name = if draft.mailbox.account_name.trim().is_empty() {
        "Untitled account".to_string()
    } else {
        draft.mailbox.account_name.clone()
    };
    let ready = draft.saved_step >= Step::Mailbox.number();
    let expiry = draft
        .operator_app
        .is_none()
        .then(|| saved_expiry_notice(draft.client_secret.expires.as_deref(), Day(draft.today)))
        .flatten()
        .map(|n| view! { <NoteAlert note=n/> });
    view! {
        <Title text=name.clone()/>
        <section class="panel" aria-labelledby="account-heading">
            <p class="eyebrow">{draft.provider_name.clone()}</p>
            <h1 id="account-heading">{name}</h1>
            <dl class="values">
                <dt>"Mailbox"</dt><dd>{draft.mailbox.email.clone()}</dd>
                <dt>"Organisation"</dt><dd>{draft.organisation.clone()}</dd>
                <dt>"Tenant"</dt><dd>{draft.tenant_id.clone().unwrap_or_else(|| draft.app.tenant.clone())}</dd>
                {match draft.operator_app.clone() {
                    Some(name) => view! { <dt>"Application"</dt><dd>{format!("{name} (this Mailkey's app)")}</dd> }.into_any(),
                    None => view! { <dt>"Application (client) ID"</dt><dd>{draft.app.client_id.clone()}</dd> }.into_any(),
                }}
            </dl>
            {expiry}
            <p class="step-nav">
                <a class="button button-secondary" href=step_path(&draft.id, Step::Review)>"Settings"</a>
                {(draft.operator_app.is_none() && ready).then(|| view! {
                    <a class="button button-secondary" id="renew-secret" href=renew_path(&draft.id)>"Renew the client secret"</a>
                })}
            </p>
            <SignInSection id=draft.id.clone() mailbox=draft.mailbox.email.clone() ready=ready/>
        </section>
        <section class="panel danger-zone" aria-labelledby="delete-heading">
            <h2 id="delete-heading">"Delete this account"</h2>
            <p>"Mailkey forgets the mailbox's sign-in, the app's client secret and the test history. The host application can no longer get tokens for it."</p>
            <a class="button button-danger" id="delete-account" href=format!("/accounts/{}/delete", draft.id)>"Delete this account…"</a>
        </section>
    }
    .into_any()
}

/// `/accounts/:id/renew-secret`: a new client secret for the account's own app registration,
/// in three steps (make it in Entra, paste it, test), keeping the sign-in.
#[component]
pub fn RenewSecretPage() -> AnyView {
    with_account(|d| view! { <RenewSecret draft=d/> }.into_any())
}

/// Entra's page of an app registration's secrets, found by its client ID.
fn entra_credentials(client_id: &str) -> String {
    format!(
        "https://entra.microsoft.com/#view/Microsoft_AAD_RegisteredApps/ApplicationMenuBlade/~/Credentials/appId/{client_id}"
    )
}

#[component]
fn RenewSecret(draft: Draft) -> AnyView {
    let (saved, problem) = leptos_router::hooks::use_query_map().with_untracked(|q| {
        (
            q.get("saved").is_some(),
            q.get("not_saved").and_then(|c| RenewProblem::from_code(&c)),
        )
    });
    let mailbox = draft.mailbox.email.clone();
    let title = format!("Renew the client secret of {mailbox}");
    if let Some(app) = draft.operator_app.clone() {
        return view! {
            <Title text=title.clone()/>
            <section class="panel">
                <h1>{title}</h1>
                <p>{format!("This account signs in with {app}, this Mailkey's own app: its secret is renewed once, for every such account, on the ")}<a href="/settings">"Settings"</a>" page."</p>
            </section>
        }
        .into_any();
    }
    let today = Day(draft.today);
    let now = match draft.client_secret.expires.as_deref() {
        Some(day) => match saved_expiry_notice(Some(day), today) {
            Some(n) => view! { <NoteAlert note=n/> }.into_any(),
            None => view! { <p>{format!("The secret in use expires on {day}.")}</p> }.into_any(),
        },
        None => view! { <p>"Mailkey was not told when the secret in use expires."</p> }.into_any(),
    };
    let app_name = if draft.app.app_name.trim().is_empty() {
        "the app".to_string()
    } else {
        format!("“{}”", draft.app.app_name.trim())
    };
    let error_for = move |field: &'static str| {
        problem
            .filter(|p| p.field() == field)
            .map(|p| view! { <p class="alert alert-error" id=format!("{field}-error") role="alert">{p.message()}</p> })
    };
    let described = move |field: &'static str| {
        problem
            .filter(|p| p.field() == field)
            .map(|_| format!("{field}-error"))
    };
    view! {
        <Title text=title.clone()/>
        <section class="panel renew" aria-labelledby="renew-heading">
            <p class="eyebrow">{draft.provider_name.clone()}</p>
            <h1 id="renew-heading">{title}</h1>
            {now}
            <p class="hint">"The mailbox stays signed in: a new secret of the same app needs no new sign-in. Mailkey uses the new secret from its next token request on."</p>
        </section>
        {saved.then(|| view! {
            <p class="alert alert-success" role="status" id="renewed">
                "The new secret is saved. Test the connection below to prove Microsoft accepts it; once it passes, delete the old secret in Entra."
            </p>
        })}
        <section class="panel renew" aria-labelledby="renew-make">
            <h2 id="renew-make">"1. Make a new secret in Entra"</h2>
            <ol>
                <li>"Open " <a href=entra_credentials(&draft.app.client_id) target="_blank" rel="noopener noreferrer">{format!("{app_name}'s Certificates & secrets in Entra")}</a> " (App registrations → the app with client ID " <code>{draft.app.client_id.clone()}</code> ")."</li>
                <li>"Choose " <strong>"New client secret"</strong> ", give it a description and an expiry, and add it."</li>
                <li>"Copy its " <strong>"Value"</strong> " (not its Secret ID) at once: Entra shows it only this time. Note the " <strong>"Expires"</strong> " date next to it."</li>
            </ol>
        </section>
        <section class="panel" aria-labelledby="renew-paste" id="renew-form">
            <h2 id="renew-paste">"2. Paste it here"</h2>
            <form method="post" action=RenewSecret::url() class="key-form">
                <input type="hidden" name="id" value=draft.id.clone()/>
                <div class="field" class:field-error=described("client_secret").is_some()>
                    <label for="client_secret">"New client secret value"</label>
                    <input type="password" id="client_secret" name="client_secret" autocomplete="off"
                        spellcheck="false" autocapitalize="off" required
                        aria-invalid=described("client_secret").is_some().to_string()
                        aria-describedby=described("client_secret")/>
                    {error_for("client_secret")}
                </div>
                <div class="field" class:field-error=described("secret_expires").is_some()>
                    <label for="secret_expires">"It expires on"</label>
                    <input type="date" id="secret_expires" name="secret_expires" required
                        aria-invalid=described("secret_expires").is_some().to_string()
                        aria-describedby=described("secret_expires")/>
                    {error_for("secret_expires")}
                </div>
                <div class="step-nav">
                    <a class="button button-secondary" href=format!("/accounts/{}", draft.id)>"Back to the account"</a>
                    <button type="submit" class="button button-primary">"Save the new secret"</button>
                </div>
            </form>
        </section>
        <section class="panel" aria-labelledby="renew-test" id="test">
            <h2 id="renew-test">"3. Test"</h2>
            <p>"The connection test gets a token with the saved secret, then sends and receives a message. A refused secret is explained with its fix."</p>
            <ConnectionTestSection id=draft.id.clone()/>
        </section>
    }
    .into_any()
}

/// `/accounts/:id/delete`: the confirmation, naming the mailbox, before anything is forgotten.
#[component]
pub fn DeleteAccountPage() -> AnyView {
    with_account(|d| view! { <ConfirmDelete draft=d/> }.into_any())
}

#[component]
fn ConfirmDelete(draft: Draft) -> AnyView {
    let mailbox = if draft.mailbox.email.trim().is_empty() {
        "this unfinished account".to_string()
    } else {
        draft.mailbox.email.clone()
    };
    let title = format!("Delete {mailbox}?");
    view! {
        <Title text=title.clone()/>
        <section class="panel" aria-labelledby="confirm-heading">
            <h1 id="confirm-heading">{title}</h1>
            <p>"Deleting the account " <strong>{draft.mailbox.account_name.clone()}</strong> " (" {mailbox.clone()} ") is final. Mailkey forgets:"</p>
            <ul>
                <li>"the mailbox's sign-in (its refresh token): the host application gets no more access tokens for it;"</li>
                <li>"the app registration's client secret, if the account had its own;"</li>
                <li>"its sign-in attempts and connection-test history."</li>
            </ul>
            <p class="hint">"Nothing changes at Microsoft: the app registration and its consent stay in Entra until an administrator removes them."</p>
            <form method="post" action=DeleteAccount::url()>
                <input type="hidden" name="id" value=draft.id.clone()/>
                <div class="step-nav">
                    <a class="button button-secondary" href=format!("/accounts/{}", draft.id)>"Keep it"</a>
                    <button type="submit" class="button button-danger" id="confirm-delete">{format!("Delete {mailbox}")}</button>
                </div>
            </form>
        </section>
    }
    .into_any()
}
