//! `/settings`: the operator's own multi-tenant app of each provider, the one customers use
//! when they "just sign in". The secret is write-only; its expiry is shown with a warning from
//! 30 days before (every page repeats that warning), and replacing it keeps every account
//! connected.

use leptos::{prelude::*, server_fn::ServerFn};
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::{
    components::copy::CopyValue,
    components::{
        field::{InputKind, TextField},
        hydrated::go_to,
    },
    error::PortalError,
    operator_settings::{
        OperatorAppInput, OperatorAppSummary, OperatorAppView, OperatorSettingsView,
    },
    pages::{
        home::SignInRequired,
        wizard::form::{ErrorSummary, FormFooter, FormState},
    },
    rules::{operator_app::check_operator_app, Level, Note},
    server_fns::{
        notice_settings, operator_apps, settings_saved_path, SaveNoticeSettings, SaveOperatorApp,
    },
};

#[component]
pub fn SettingsPage() -> impl IntoView {
    let apps = Resource::new(|| (), |_| operator_apps());
    let notices = Resource::new(|| (), |_| notice_settings());
    view! {
        <Title text="Settings"/>
        <Suspense fallback=|| view! { <p class="loading">"Loading the settings…"</p> }>
            {move || Suspend::new(async move {
                let (apps, notices) = (apps.await, notices.await);
                match apps {
                    Ok(settings) => view! {
                        <Settings settings/>
                        {match notices {
                            Ok(n) => view! { <NoticeMail view=n/> }.into_any(),
                            Err(e) => view! {
                                <section class="panel" id="notices">
                                    <h2>"Notice e-mails"</h2>
                                    <p class="alert alert-error" role="alert">{e.to_string()}</p>
                                </section>
                            }.into_any(),
                        }}
                    }.into_any(),
                    Err(PortalError::NotSignedIn) => view! { <SignInRequired/> }.into_any(),
                    Err(e) => view! {
                        <section class="panel">
                            <h1>"Settings"</h1>
                            <p class="alert alert-error" role="alert">{e.to_string()}</p>
                        </section>
                    }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Settings(settings: OperatorSettingsView) -> impl IntoView {
    let (saved, not_saved) = use_query_map().with_untracked(|q| {
        (
            q.get("saved").unwrap_or_default(),
            q.get("not_saved").is_some(),
        )
    });
    view! {
        <section class="panel" aria-labelledby="settings-heading">
            <h1 id="settings-heading">"Settings"</h1>
            <p class="lead">
                "Your own multi-tenant app lets customers connect a mailbox by just signing in: \
                 they never register an app. One app serves every account that uses it, so keep \
                 its client secret current."
            </p>
            <p>
                "Register it in Entra as a web app for accounts in any organizational directory, \
                 with this redirect URI:"
            </p>
            <CopyValue value=settings.redirect_uri.clone() label="Redirect URI".to_string()/>
            {not_saved.then(|| view! {
                <p class="alert alert-error" role="alert">
                    "Nothing was saved: a value was not valid. Check the values below and save again."
                </p>
            })}
        </section>
        {settings
            .apps
            .into_iter()
            .map(|view| {
                let just_saved = view.provider_id == saved;
                view! { <ProviderApp view just_saved/> }
            })
            .collect_view()}
    }
}

fn notice_view(note: Note) -> impl IntoView {
    let (class, role) = match note.level {
        Level::Error => ("alert alert-error", "alert"),
        Level::Warning => ("alert alert-warning", "status"),
    };
    view! { <p class=class role=role>{note.message}</p> }
}

#[component]
fn ProviderApp(view: OperatorAppView, just_saved: bool) -> AnyView {
    let heading = format!("app-{}-heading", view.provider_id);
    let initial = view
        .app
        .as_ref()
        .map(|a| OperatorAppInput {
            client_id: a.client_id.clone(),
            name: a.name.clone(),
            publisher: a.publisher.clone().unwrap_or_default(),
            client_secret: String::new(),
            secret_expires: a.secret_expires.clone().unwrap_or_default(),
        })
        .unwrap_or_default();
    let secret_set = view.app.is_some();
    let section_id = format!("app-{}", view.provider_id);
    let labelled_by = heading.clone();
    view! {
        <section class="panel" id=section_id aria-labelledby=labelled_by>
            <p class="eyebrow">{view.provider_name.clone()}</p>
            <h2 id=heading>"Your own app"</h2>
            {just_saved.then(|| view! {
                <p class="alert alert-success" role="status">
                    "Saved. Every account that uses this app signs in and refreshes with it from now on; none needs to sign in again."
                </p>
            })}
            {match view.app.clone() {
                Some(app) => view! { <AppSummary app accounts=view.accounts/> }.into_any(),
                None => view! {
                    <p>
                        "No app yet: customers can only register their own. Register a multi-tenant \
                         app in Entra (Supported account types: any organizational directory) with \
                         the redirect URI above, add a client secret, then enter its values below."
                    </p>
                }.into_any(),
            }}
            {secret_set.then(|| view! { <h3 class="form-heading">"Rotate the secret or change the app"</h3> })}
            <OperatorAppForm provider=view.provider_id.clone() initial secret_set/>
        </section>
    }
    .into_any()
}

#[component]
fn AppSummary(app: OperatorAppSummary, accounts: i64) -> AnyView {
    view! {
        {app.expiry.clone().map(notice_view)}
        <dl class="values">
            <dt>"Shown to customers as"</dt>
            <dd>{format!("Use {}'s app", app.name)}</dd>
            <dt>"Publisher"</dt>
            <dd>{app.publisher.clone().unwrap_or_else(|| "(not set)".into())}</dd>
            <dt>"Application (client) ID"</dt>
            <dd><code>{app.client_id.clone()}</code></dd>
            <dt>"Client secret"</dt>
            <dd>"Set (write-only: Mailkey never shows it)"</dd>
            <dt>"Secret expires"</dt>
            <dd class="secret-expires">{app.secret_expires.clone().unwrap_or_else(|| "(not set)".into())}</dd>
            <dt>"Set in"</dt>
            <dd>{app.origin.describe()}</dd>
            <dt>"Accounts using it"</dt>
            <dd class="app-accounts">{accounts}</dd>
        </dl>
    }
    .into_any()
}

/// An island: the form checks values as they are typed and shows the server's refusals.
#[island(lazy)]
pub fn OperatorAppForm(
    provider: String,
    initial: OperatorAppInput,
    secret_set: bool,
) -> impl IntoView {
    let hydrated = crate::components::hydrated::marker();
    // The page has a form per provider: field IDs carry the provider's.
    let scope = crate::provider::Provider::by_id(&provider).map(|p| p.id);
    let form = FormState::new(initial, move |v: &OperatorAppInput| {
        check_operator_app(v, secret_set)
    });
    let action = ServerAction::<SaveOperatorApp>::new();
    let saved_to = settings_saved_path(&provider);
    Effect::new(move |_| match action.value().get() {
        Some(Ok(())) => go_to(&saved_to),
        Some(Err(e)) => form.refused(e),
        None => {}
    });
    let on_submit = form.submit_with({
        let provider = provider.clone();
        move |v: OperatorAppInput| {
            action.dispatch(SaveOperatorApp {
                provider: provider.clone(),
                client_id: v.client_id,
                name: v.name,
                publisher: v.publisher,
                client_secret: v.client_secret,
                secret_expires: v.secret_expires,
            });
        }
    });
    let secret_hint = if secret_set {
        "To rotate: add a new secret in Entra, paste its Value here and save, then delete the old \
         secret in Entra. Leave empty to keep the current one."
    } else {
        "The Value column under Certificates & secrets (not the Secret ID). Stored encrypted."
    };
    let pending = action.pending();
    view! {
        <form method="post" action=SaveOperatorApp::url() on:submit=on_submit novalidate data-hydrated=hydrated>
            <ErrorSummary errors=form.error_list() scope=scope/>
            <input type="hidden" name="provider" value=provider.clone()/>
            <TextField
                scope=scope
                name="client_id"
                label="Application (client) ID"
                hint="The multi-tenant app's Overview page in Entra."
                required=true
                placeholder="00000000-0000-0000-0000-000000000000"
                value=form.value(|v| &v.client_id)
                on_input=form.setter("client_id", |v, s| v.client_id = s)
                on_blur=form.on_blur("client_id")
                note=form.note("client_id")
            />
            <TextField
                scope=scope
                name="name"
                label="Name shown to customers"
                hint="Customers read \u{201c}Use <name>'s app\u{201d}. Usually your product's name."
                kind=InputKind::NAME
                value=form.value(|v| &v.name)
                on_input=form.setter("name", |v, s| v.name = s)
                on_blur=form.on_blur("name")
                note=form.note("name")
            />
            <TextField
                scope=scope
                name="publisher"
                label="Publisher"
                hint="Your company, as Entra's consent page shows it."
                kind=InputKind::NAME
                value=form.value(|v| &v.publisher)
                on_input=form.setter("publisher", |v, s| v.publisher = s)
                on_blur=form.on_blur("publisher")
                note=form.note("publisher")
            />
            <TextField
                scope=scope
                name="client_secret"
                label=if secret_set { "New client secret value" } else { "Client secret value" }
                hint=secret_hint
                kind=InputKind::SECRET
                required=!secret_set
                value=form.value(|v| &v.client_secret)
                on_input=form.setter("client_secret", |v, s| v.client_secret = s)
                on_blur=form.on_blur("client_secret")
                note=form.note("client_secret")
            />
            <TextField
                scope=scope
                name="secret_expires"
                label="Client secret expires"
                hint="The Expires date next to the secret in Entra. Every page warns you 30 days before."
                kind=InputKind::DATE
                value=form.value(|v| &v.secret_expires)
                on_input=form.setter("secret_expires", |v, s| v.secret_expires = s)
                on_blur=form.on_blur("secret_expires")
                note=form.note("secret_expires")
            />
            <FormFooter
                form_error=form.form_error
                continue_to=form.continue_to
                back=None
                pending=pending.into()
                next_label="Save"
            />
        </form>
    }
    .into_any()
}

/// Notice e-mails: which connected mailbox sends them and where the operator's own
/// organisation gets them (a host sets its customers' addresses over the API), with the latest
/// ones sent. A plain form: it works before (and without) the page's script.
#[component]
fn NoticeMail(view: crate::notice_mail::NoticeSettingsView) -> impl IntoView {
    let (saved, problem) = use_query_map().with_untracked(|q| {
        (
            q.get("saved").as_deref() == Some("notices"),
            q.get("notice_problem")
                .and_then(|f| crate::notice_mail::refusal(&f)),
        )
    });
    let sender = view.sender.clone().unwrap_or_default();
    let none_connected = view.senders.is_empty();
    let recent = (!view.recent.is_empty()).then(|| {
        view! {
            <h3 class="form-heading">"Latest notices"</h3>
            <ul class="notice-mails">
                {view.recent.into_iter().map(|n| {
                    let class = format!("badge badge-notice-{}", n.state.as_str());
                    let error = n.last_error.clone().map(|e| view! { <span class="hint">{e}</span> });
                    view! {
                        <li>
                            <span class=class>{n.state.label()}</span>
                            " "<code>{n.event_type.as_str()}</code>
                            " about "{n.mailbox}" to "{n.to_address}
                            " ("{n.organisation_name}", "{n.when}")"
                            {error}
                        </li>
                    }
                }).collect_view()}
            </ul>
        }
    });
    view! {
        <section class="panel" id="notices" aria-labelledby="notices-heading">
            <h2 id="notices-heading">"Notice e-mails"</h2>
            <p>
                "When a mailbox needs a person (Microsoft refused its sign-in or its app, or its \
                 app's client secret expires in 30, 7 or 1 days), Mailkey e-mails its \
                 organisation's notice address, sending from one of your connected mailboxes. \
                 Webhooks carry the same news to your application."
            </p>
            {saved.then(|| view! {
                <p class="alert alert-success" role="status">"Saved."</p>
            })}
            {problem.map(|m| view! { <p class="alert alert-error" role="alert">{m}</p> })}
            <form method="post" action=SaveNoticeSettings::url() class="notice-settings" novalidate>
                <div class="field">
                    <label for="notice-sender">"Send notices from"</label>
                    <p class="field-hint">
                        {if none_connected {
                            "No mailbox is connected yet: connect one first (a mailbox kept for notifications is a good choice)."
                        } else {
                            "A connected mailbox of yours; notices are sent as it, through its SMTP server."
                        }}
                    </p>
                    <select id="notice-sender" name="sender">
                        <option value="" selected=sender.is_empty()>"Do not e-mail notices"</option>
                        {view.senders.into_iter().map(|c| {
                            let selected = c.account_id == sender;
                            view! { <option value=c.account_id selected=selected>{c.label}</option> }
                        }).collect_view()}
                    </select>
                </div>
                <div class="field">
                    <label for="notice-own-address">"Notices about your own mailboxes go to"</label>
                    <p class="field-hint">
                        "Empty: not e-mailed. A host application sets its customers' addresses \
                         with PATCH /api/v1/organisations/{id} and notice_email."
                    </p>
                    <input id="notice-own-address" name="own_address" type="email" inputmode="email"
                        autocomplete="email" placeholder="it@contoso.com"
                        value=view.own_address.unwrap_or_default()/>
                </div>
                <button type="submit" class="button button-primary">"Save"</button>
            </form>
            {recent}
        </section>
    }
}
