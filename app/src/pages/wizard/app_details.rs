//! Step 2: the app registration's values, checked as they are typed; the tenant is looked up
//! when the admin leaves the field.

use leptos::{prelude::*, server_fn::ServerFn};

use super::form::{ErrorSummary, FormFooter, FormState};
use crate::{
    components::field::{InputKind, TextField},
    draft::{AppDetails, Draft, Step},
    rules::{
        dates::Day,
        steps::{check_app_details, AppContext},
        tenant::{self, Tenant},
        Note,
    },
    server_fns::{step_path, LookupTenant, SaveAppDetails},
};

/// An island: the only part of this step that ships as wasm.
#[island(lazy)]
pub fn AppDetailsForm(draft: Draft) -> impl IntoView {
    let hydrated = crate::components::hydrated::marker();
    let id = draft.id.clone();
    let today = Day(draft.today);
    let authority = draft.authority.clone();
    let secret_set = draft.client_secret.set;
    let resolved = RwSignal::new(draft.tenant_id.clone());
    let form = FormState::new(draft.app.clone(), move |v: &AppDetails| {
        check_app_details(
            v,
            &AppContext {
                today,
                authority: &authority,
                secret_set,
                resolved_tenant_id: resolved.get().as_deref(),
            },
        )
    });

    // Tenant lookup as the admin leaves the field: "found: <id>" or why not.
    let lookup = ServerAction::<LookupTenant>::new();
    let looked_up = StoredValue::new(draft.app.tenant.clone());
    let account = id.clone();
    let on_tenant_blur = Callback::new(move |_| {
        form.touch("tenant");
        let entered = form.values.with_untracked(|v| v.tenant.trim().to_string());
        if looked_up.get_value() == entered {
            return;
        }
        looked_up.set_value(entered.clone());
        match tenant::parse(&entered) {
            Ok(Tenant::Id(tid)) => resolved.set(Some(tid)),
            Ok(Tenant::Domain(_)) => {
                resolved.set(None);
                lookup.dispatch(LookupTenant {
                    id: account.clone(),
                    tenant: entered,
                });
            }
            Err(_) => resolved.set(None),
        }
    });
    Effect::new(move |_| match lookup.value().get() {
        Some(Ok(Ok(tid))) => {
            form.set_server_note("tenant", None);
            resolved.set(Some(tid));
        }
        Some(Ok(Err(note))) => form.set_server_note("tenant", Some(note)),
        Some(Err(e)) => form.set_server_note("tenant", Some(Note::warning(e.to_string()))),
        None => {}
    });
    let tenant_found = move || {
        let pending = lookup.pending().get();
        let tid = resolved.get();
        let entered_domain = form
            .values
            .with(|v| matches!(tenant::parse(&v.tenant), Ok(Tenant::Domain(_))));
        if pending {
            Some("Looking up the tenant…".to_string())
        } else {
            tid.filter(|_| entered_domain)
                .map(|t| format!("Found: tenant ID {t}"))
        }
    };

    // Endpoints derived from the tenant, shown unless the admin pastes their own: under the
    // authority this account really signs in with (the sandbox's, for a sandbox account).
    let base = draft.authority.trim_end_matches('/').to_string();
    let derived = move |which: &'static str| {
        let base = base.clone();
        move || {
            let t = resolved
                .get()
                .unwrap_or_else(|| form.values.with(|v| v.tenant.trim().to_string()));
            if t.is_empty() {
                "(from the tenant, once it is known)".to_string()
            } else {
                format!("{base}/{t}/oauth2/v2.0/{which}")
            }
        }
    };

    let action = ServerAction::<SaveAppDetails>::new();
    form.follow(move || action.value().get());
    let on_submit = form.submit_with({
        let id = id.clone();
        move |v| {
            action.dispatch(SaveAppDetails {
                id: id.clone(),
                tenant: v.tenant,
                client_id: v.client_id,
                app_name: v.app_name,
                client_secret: v.client_secret,
                secret_expires: v.secret_expires,
                custom_endpoints: v.custom_endpoints.then(|| "on".to_string()),
                authorize_url: v.authorize_url,
                token_url: v.token_url,
            });
        }
    });

    let secret_hint = if secret_set {
        "A secret is saved. Leave this empty to keep it, or paste a new Value to replace it."
    } else {
        "The Value column under Certificates & secrets (not the Secret ID). Stored encrypted; \
         Mailkey never shows it again."
    };
    let custom = Signal::derive(move || form.values.with(|v| v.custom_endpoints));
    view! {
        <form method="post" action=SaveAppDetails::url() on:submit=on_submit novalidate data-hydrated=hydrated>
            <ErrorSummary errors=form.error_list()/>
            <input type="hidden" name="id" value=id.clone()/>
            <TextField
                name="tenant"
                label="Tenant"
                hint="Leave it empty and Mailkey finds it from the mailbox's address at the Mailbox step; or enter your verified domain (contoso.com) or the Directory (tenant) ID from the app's Overview page."
                required=false
                placeholder="contoso.onmicrosoft.com"
                value=form.value(|v| &v.tenant)
                on_input=form.setter("tenant", |v, s| v.tenant = s)
                on_blur=on_tenant_blur
                note=form.note("tenant")
            />
            <p class="found" aria-live="polite">{tenant_found}</p>
            <TextField
                name="client_id"
                label="Application (client) ID"
                hint="A GUID from the app's Overview page, e.g. 8f3c2a9e-1b4d-4c6e-9a7f-2d5b8e1c0a93."
                required=true
                placeholder="00000000-0000-0000-0000-000000000000"
                value=form.value(|v| &v.client_id)
                on_input=form.setter("client_id", |v, s| v.client_id = s)
                on_blur=form.on_blur("client_id")
                note=form.note("client_id")
            />
            <TextField
                name="app_name"
                label="Application display name"
                kind=InputKind::NAME
                required=false
                value=form.value(|v| &v.app_name)
                on_input=form.setter("app_name", |v, s| v.app_name = s)
                on_blur=form.on_blur("app_name")
                note=form.note("app_name")
            />
            <TextField
                name="client_secret"
                label="Client secret value"
                hint=secret_hint
                kind=InputKind::SECRET
                required=!secret_set
                value=form.value(|v| &v.client_secret)
                on_input=form.setter("client_secret", |v, s| v.client_secret = s)
                on_blur=form.on_blur("client_secret")
                note=form.note("client_secret")
            />
            <TextField
                name="secret_expires"
                label="Client secret expires"
                hint="The Expires date next to the secret in Entra. Mailkey warns you before it passes."
                kind=InputKind::DATE
                value=form.value(|v| &v.secret_expires)
                on_input=form.setter("secret_expires", |v, s| v.secret_expires = s)
                on_blur=form.on_blur("secret_expires")
                note=form.note("secret_expires")
            />
            <fieldset class="endpoints">
                <legend>"Authorization and token endpoints"</legend>
                <div class="derived-endpoints">
                    <p class="field-hint">"Derived from the tenant (Microsoft identity platform v2):"</p>
                    <dl class="values">
                        <dt>"OAuth 2.0 authorization endpoint (v2)"</dt>
                        <dd><code>{derived("authorize")}</code></dd>
                        <dt>"OAuth 2.0 token endpoint (v2)"</dt>
                        <dd><code>{derived("token")}</code></dd>
                    </dl>
                </div>
                <label class="check">
                    <input
                        type="checkbox"
                        name="custom_endpoints"
                        value="on"
                        checked=draft.app.custom_endpoints
                        prop:checked=move || custom.get()
                        on:change=move |ev| {
                            let on = event_target_checked(&ev);
                            form.values.update(|v| v.custom_endpoints = on);
                        }
                    />
                    " I have the endpoints (paste them from Entra: Overview → Endpoints)"
                </label>
                <div class="custom-endpoints">
                    <TextField
                        name="authorize_url"
                        label="Authorization endpoint"
                        kind=InputKind::URL
                        value=form.value(|v| &v.authorize_url)
                        on_input=form.setter("authorize_url", |v, s| v.authorize_url = s)
                        on_blur=form.on_blur("authorize_url")
                        note=form.note("authorize_url")
                    />
                    <TextField
                        name="token_url"
                        label="Token endpoint"
                        kind=InputKind::URL
                        value=form.value(|v| &v.token_url)
                        on_input=form.setter("token_url", |v, s| v.token_url = s)
                        on_blur=form.on_blur("token_url")
                        note=form.note("token_url")
                    />
                </div>
            </fieldset>
            <FormFooter
                form_error=form.form_error
                continue_to=form.continue_to
                back=Some(step_path(&id, Step::Register))
                pending=action.pending().into()
            />
        </form>
    }
    .into_any()
}
