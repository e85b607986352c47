//! The setup wizard: one page per step, the draft saved on the server after each.

mod app_details;
mod form;
mod mailbox;
mod progress;
mod redirect_uri;
mod register;
mod review;

use leptos::{ev::SubmitEvent, prelude::*, server_fn::ServerFn};
use leptos_meta::Title;
use leptos_router::{
    hooks::{use_navigate, use_params_map},
    NavigateOptions,
};

use self::{
    app_details::AppDetailsForm, mailbox::MailboxForm, progress::Progress,
    redirect_uri::RedirectGuide, register::RegisterGuide, review::Review,
};
use crate::{
    draft::{Draft, Step},
    error::PortalError,
    pages::home::SignInRequired,
    provider::MICROSOFT_365,
    server_fns::{load_draft, redirect_uri, step_path, CompleteStep, CreateDraft, StepSaved},
};

/// Heading and title of a step.
#[component]
fn StepHeading(step: Step) -> impl IntoView {
    view! {
        <Title text=format!("Step {}: {}", step.number(), step.title())/>
        <h1 id="step-heading">{step.title()}</h1>
    }
}

/// Follows a saved step to the next one, or shows why not.
fn after_save(
    value: impl Fn() -> Option<Result<StepSaved, PortalError>> + 'static,
    error: RwSignal<Option<String>>,
) {
    let navigate = use_navigate();
    Effect::new(move |_| match value() {
        Some(Ok(saved)) => navigate(&saved.next_path(), NavigateOptions::default()),
        Some(Err(e)) => error.set(Some(e.to_string())),
        None => {}
    });
}

/// `/accounts/new`: step 1 before the draft exists; "Next" creates it.
#[component]
pub fn NewAccountPage() -> AnyView {
    let create = ServerAction::<CreateDraft>::new();
    let error = RwSignal::new(None::<String>);
    after_save(move || create.value().get(), error);
    let redirect_uri = Resource::new(|| (), |_| redirect_uri());
    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match redirect_uri.await {
                    Ok(uri) => view! { <NewAccountStep uri=uri create=create error=error/> }.into_any(),
                    Err(PortalError::NotSignedIn) => view! { <SignInRequired/> }.into_any(),
                    Err(e) => view! { <section class="panel"><p class="alert alert-error" role="alert">{e.to_string()}</p></section> }.into_any(),
                }
            })}
        </Suspense>
    }
    .into_any()
}

#[component]
fn NewAccountStep(
    uri: String,
    create: ServerAction<CreateDraft>,
    error: RwSignal<Option<String>>,
) -> AnyView {
    let on_submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        create.dispatch(CreateDraft {});
    };
    view! {
        <section class="panel wizard" aria-labelledby="step-heading">
            <p class="eyebrow">"New Microsoft 365 account"</p>
            <Progress current=Step::Register id=None saved_step=0/>
            <StepHeading step=Step::Register/>
            <RegisterGuide provider=&MICROSOFT_365 client_id=None redirect_uri=uri/>
            <form method="post" action=CreateDraft::url() on:submit=on_submit>
                {move || error.get().map(|e| view! { <p class="alert alert-error" role="alert">{e}</p> })}
                <div class="step-nav">
                    <a class="button button-secondary" href="/">"Cancel"</a>
                    <button type="submit" class="button button-primary" disabled=move || create.pending().get()>
                        "I registered the app: next"
                    </button>
                </div>
            </form>
        </section>
    }
    .into_any()
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
                    Err(e) => view! {
                        <section class="panel">
                            <h1>"Account not available"</h1>
                            <p class="alert alert-error" role="alert">{e.to_string()}</p>
                            <a class="button button-secondary" href="/">"Back to mailboxes"</a>
                        </section>
                    }.into_any(),
                }
            })}
        </Suspense>
    }
    .into_any()
}

#[component]
fn WizardStep(draft: Draft, step: Step) -> AnyView {
    let provider = &MICROSOFT_365;
    // A step beyond the first unsaved one would skip required values.
    let step = step.min(draft.resume_step());
    let name = if draft.mailbox.account_name.trim().is_empty() {
        "New Microsoft 365 account".to_string()
    } else {
        draft.mailbox.account_name.clone()
    };
    let body = match step {
        Step::Register => view! {
            <RegisterGuide provider=provider client_id=Some(draft.app.client_id.clone()) redirect_uri=draft.redirect_uri.clone()/>
            <CompleteStepForm id=draft.id.clone() step=Step::Register back=None/>
        }
        .into_any(),
        Step::AppDetails => view! { <AppDetailsForm provider=provider draft=draft.clone()/> }.into_any(),
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
        Step::Mailbox => view! { <MailboxForm provider=provider draft=draft.clone()/> }.into_any(),
        Step::Review => view! { <Review draft=draft.clone()/> }.into_any(),
    };
    view! {
        <section class="panel wizard" aria-labelledby="step-heading">
            <p class="eyebrow">{name}</p>
            <Progress current=step id=Some(draft.id.clone()) saved_step=draft.saved_step/>
            <StepHeading step=step/>
            {body}
        </section>
    }
    .into_any()
}

/// "Next" on a step that only asks the admin to do something in Entra.
#[component]
fn CompleteStepForm(id: String, step: Step, back: Option<String>) -> AnyView {
    let action = ServerAction::<CompleteStep>::new();
    let error = RwSignal::new(None::<String>);
    after_save(move || action.value().get(), error);
    let on_submit = {
        let id = id.clone();
        move |ev: SubmitEvent| {
            ev.prevent_default();
            action.dispatch(CompleteStep {
                id: id.clone(),
                step: step.number(),
            });
        }
    };
    let label = match step {
        Step::Register => "I registered the app: next",
        _ => "I added the redirect URI: next",
    };
    view! {
        <form method="post" action=CompleteStep::url() on:submit=on_submit>
            <input type="hidden" name="id" value=id/>
            <input type="hidden" name="step" value=step.number().to_string()/>
            {move || error.get().map(|e| view! { <p class="alert alert-error" role="alert">{e}</p> })}
            <div class="step-nav">
                {back.map(|b| view! { <a class="button button-secondary" href=b>"Back"</a> })}
                <button type="submit" class="button button-primary" disabled=move || action.pending().get()>{label}</button>
            </div>
        </form>
    }
    .into_any()
}
