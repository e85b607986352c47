//! `/accounts/:id`: a connected account at a glance: the mailbox, who signed in and when, the
//! tokens' state, "sign in again", and the way to its settings.

use leptos::{prelude::*, server_fn::ServerFn};
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use crate::{
    components::layout::NoteAlert,
    draft::{Draft, Step},
    error::PortalError,
    pages::{home::SignInRequired, wizard::sign_in::SignInSection},
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
            <p>
                <a class="button button-secondary" href=step_path(&draft.id, Step::Review)>"Settings"</a>
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
