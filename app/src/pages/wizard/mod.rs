//! The setup wizard: one page per step, the draft saved on the server after each.

mod app_details;
pub(crate) mod connection_test;
pub(crate) mod form;
mod mailbox;
mod prerequisites;
mod progress;
mod redirect_uri;
mod register;
mod review;
pub mod sign_in;

#[cfg(feature = "hydrate")]
pub(crate) use connection_test::stage_row;

use leptos::{prelude::*, server_fn::ServerFn};
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

use self::{
    app_details::AppDetailsForm, mailbox::MailboxForm, progress::Progress,
    redirect_uri::RedirectGuide, register::RegisterGuide, review::Review,
};
use crate::{
    api::NewAccountInfo,
    draft::{Draft, Step},
    error::PortalError,
    pages::{account::Unavailable, home::SignInRequired},
    provider::MICROSOFT_365,
    server_fns::{load_draft, new_account, step_path, CompleteStep, CreateDraft},
};

/// Heading and title of a step.
#[component]
fn StepHeading(step: Step) -> impl IntoView {
    view! {
        <Title text=format!("Step {}: {}", step.number(), step.title())/>
        <h1 id="step-heading">{step.title()}</h1>
    }
}

/// `/accounts/new`: step 1 before the draft exists; "Next" creates it. A plain form: the server
/// function answers a form post with a redirect to step 2, no wasm needed.
#[component]
pub fn NewAccountPage() -> AnyView {
    let info = Resource::new(|| (), |_| new_account());
    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match info.await {
                    Ok(info) => view! { <NewAccountStep info=info/> }.into_any(),
                    Err(PortalError::NotSignedIn) => view! { <SignInRequired/> }.into_any(),
                    Err(e) => view! { <section class="panel"><p class="alert alert-error" role="alert">{e.to_string()}</p></section> }.into_any(),
                }
            })}
        </Suspense>
    }
    .into_any()
}

#[component]
fn NewAccountStep(info: NewAccountInfo) -> AnyView {
    // With the sandbox on there is a choice; otherwise the one provider goes along unseen.
    let choice = (info.providers.len() > 1).then(|| {
        view! {
            <fieldset class="field provider-choice">
                <legend>"Where is the mailbox?"</legend>
                {info.providers.iter().enumerate().map(|(i, (id, name))| view! {
                    <label class="choice">
                        <input type="radio" name="provider" value=id.clone() checked=i == 0/>
                        " " {name.clone()}
                    </label>
                }).collect_view()}
                <p class="hint">"The sandbox is Mailkey's stand-in for Microsoft, for trying Mailkey and for tests; see " <a href="/sandbox">"its values"</a> "."</p>
            </fieldset>
        }
    });
    let only = (info.providers.len() == 1).then(|| {
        view! { <input type="hidden" name="provider" value=info.providers[0].0.clone()/> }
    });
    // The operator's own app first: most customers only want to sign in.
    let one_click = info.operator_apps.first().cloned().map(|(provider, name, publisher)| {
        let publisher = publisher.map(|p| format!(", published by {p}"));
        view! {
            <section class="one-click" aria-labelledby="one-click-heading">
                <h2 id="one-click-heading">"Just sign in (recommended)"</h2>
                <p>
                    "Use the app " <strong>{name.clone()}</strong> {publisher} ": no app \
                     registration, secret or redirect URI. The mailbox owner signs in and accepts \
                     the permissions, or an administrator grants them for the whole organisation."
                </p>
                <button type="submit" name="one_click" value=provider class="button button-primary" id="use-operator-app">{format!("Use {name}")}</button>
            </section>
            <h2 class="or-own">"Or use your own app registration"</h2>
            <p class="hint">"For IT departments that keep every app in their own tenant."</p>
        }
    });
    // One form: both ways in share the organisation; "Use <app>" is its second submit button.
    view! {
        <section class="panel wizard" aria-labelledby="step-heading">
            <form method="post" action=CreateDraft::url()>
                // The form's default button, disabled: Enter in a field chooses no way in (the
                // first real button would be "Use <app>", whatever the admin meant).
                <button type="submit" disabled hidden aria-hidden="true" tabindex="-1"></button>
                <p class="eyebrow">"New Microsoft 365 account"</p>
                <OrganisationChoice organisations=info.organisations.clone()/>
                {one_click}
                <Progress current=Step::Register id=None saved_step=0/>
                <StepHeading step=Step::Register/>
                <RegisterGuide provider=&MICROSOFT_365 client_id=None redirect_uri=info.redirect_uri.clone()/>
                {choice}
                {only}
                <div class="step-nav">
                    <a class="button button-secondary" href="/">"Cancel"</a>
                    <button type="submit" class="button button-primary" id="use-own-app">"I registered the app: next"</button>
                </div>
            </form>
        </section>
    }
    .into_any()
}

/// Which customer of the host the account is for: an organisation that exists, or a new one.
#[component]
fn OrganisationChoice(organisations: Vec<(String, String)>) -> impl IntoView {
    let not_saved = use_query_map().with_untracked(|q| q.get("not_saved").is_some());
    view! {
        <fieldset class="field organisation-choice">
            <legend>"Organisation"</legend>
            {not_saved.then(|| view! {
                <p class="alert alert-error" role="alert">"No account was made: a choice was not accepted. Choose an organisation from the list (or give a new one a name of one line), then a way in."</p>
            })}
            <label for="organisation">"The customer this mailbox belongs to"</label>
            <select id="organisation" name="organisation">
                {organisations.into_iter().enumerate().map(|(i, (id, name))| view! {
                    <option value=id selected=i == 0>{name}</option>
                }).collect_view()}
            </select>
            <label for="new-organisation">"Or a new organisation"</label>
            <input id="new-organisation" name="new_organisation" type="text" maxlength="200" autocomplete="organization" placeholder="Contoso Ltd"/>
            <p class="hint">"A name here makes a new organisation for this account; host applications see it over the API."</p>
        </fieldset>
    }
}

/// `/accounts/:id/setup/:step?`: the wizard for a saved draft; without a step, where it stopped.
#[component]
pub fn WizardPage() -> AnyView {
    let params = use_params_map();
    let id = move || params.with(|p| p.get("id").unwrap_or_default());
    let step = move || {
        params.with(|p| {
            p.get("step")
                .and_then(|s| s.parse::<u8>().ok())
                .and_then(Step::from_number)
        })
    };
    let draft = Resource::new(move || (id(), step()), |(id, _)| load_draft(id));
    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading the account…"</p> }>
            {move || Suspend::new(async move {
                match draft.await {
                    Ok(d) => {
                        let current = step().unwrap_or_else(|| d.resume_step());
                        view! { <WizardStep draft=d step=current/> }.into_any()
                    }
                    Err(PortalError::NotSignedIn) => view! { <SignInRequired/> }.into_any(),
                    Err(e) => view! { <Unavailable error=e/> }.into_any(),
                }
            })}
        </Suspense>
    }
    .into_any()
}

#[component]
fn WizardStep(draft: Draft, step: Step) -> AnyView {
    let provider = &MICROSOFT_365;
    // A step beyond the first unsaved one would skip required values; an account on the
    // operator's app has no app steps, so it never shows them (its path starts at the mailbox).
    let step = step.min(draft.resume_step());
    let step = if draft.operator_app.is_some() && step < Step::Mailbox {
        Step::Mailbox
    } else {
        step
    };
    let name = if draft.mailbox.account_name.trim().is_empty() {
        format!("New {} account", draft.provider_name)
    } else {
        draft.mailbox.account_name.clone()
    };
    let body = match step {
        Step::Register => view! {
            <RegisterGuide provider=provider client_id=Some(draft.app.client_id.clone()) redirect_uri=draft.redirect_uri.clone()/>
            <CompleteStepForm id=draft.id.clone() step=Step::Register back=None/>
        }
        .into_any(),
        Step::AppDetails => view! { <AppDetailsForm draft=draft.clone()/> }.into_any(),
        Step::RedirectUri => view! {
            <RedirectGuide
                provider=provider
                client_id=draft.app.client_id.clone()
                redirect_uri=draft.redirect_uri.clone()
                warning=draft.redirect_uri_warning.clone()
            />
            <CompleteStepForm id=draft.id.clone() step=Step::RedirectUri back=Some(step_path(&draft.id, Step::AppDetails))/>
        }
        .into_any(),
        Step::Mailbox => view! { <MailboxForm draft=draft.clone()/> }.into_any(),
        Step::Review => view! { <Review draft=draft.clone()/> }.into_any(),
    };
    // Set when a form posted without the wasm was refused: the page cannot show the per-field
    // messages, so it says so (the wasm-driven form shows each field's message instead).
    let not_saved = use_query_map().with_untracked(|q| q.get("not_saved").is_some());
    view! {
        <section class="panel wizard" aria-labelledby="step-heading">
            <p class="eyebrow">{name}</p>
            <Progress current=step id=Some(draft.id.clone()) saved_step=draft.saved_step operator_app=draft.operator_app.is_some()/>
            <StepHeading step=step/>
            {not_saved.then(|| view! {
                <p class="alert alert-error" role="alert">
                    "Nothing was saved: some values were not accepted. Check them and save again;                      with JavaScript on, each field says what is wrong as you type."
                </p>
            })}
            {body}
        </section>
    }
    .into_any()
}

/// "Next" on a step that only asks the admin to do something in Entra: a plain form post that the
/// server answers with a redirect to the next step.
#[component]
fn CompleteStepForm(id: String, step: Step, back: Option<String>) -> AnyView {
    let label = match step {
        Step::Register => "I registered the app: next",
        _ => "I added the redirect URI: next",
    };
    view! {
        <form method="post" action=CompleteStep::url()>
            <input type="hidden" name="id" value=id/>
            <input type="hidden" name="step" value=step.number().to_string()/>
            <div class="step-nav">
                {back.map(|b| view! { <a class="button button-secondary" href=b>"Back"</a> })}
                <button type="submit" class="button button-primary">{label}</button>
            </div>
        </form>
    }
    .into_any()
}
