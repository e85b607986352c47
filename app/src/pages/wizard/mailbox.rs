//! Step 4: the mailbox, its servers and scopes, preset for Exchange Online.

use leptos::{prelude::*, server_fn::ServerFn};

use super::form::{ErrorSummary, FormFooter, FormState};
use crate::{
    components::field::{InputKind, SelectField, TextField},
    draft::{Draft, MailboxSettings, Step},
    provider::{Protocol, Provider, Security, MICROSOFT_365},
    rules::steps::check_mailbox,
    server_fns::{step_path, SaveMailbox},
};

fn security_options() -> Vec<(&'static str, &'static str)> {
    Security::ALL
        .iter()
        .map(|s| (s.as_str(), s.label()))
        .collect()
}

/// An island: the only part of this step that ships as wasm.
#[island(lazy)]
pub fn MailboxForm(draft: Draft) -> impl IntoView {
    let provider: &'static Provider = &MICROSOFT_365;
    let hydrated = crate::components::hydrated::marker();
    let id = draft.id.clone();
    let operator_app = draft.operator_app.is_some();
    let form = FormState::new(draft.mailbox.clone(), move |v: &MailboxSettings| {
        check_mailbox(v, provider)
    });
    let action = ServerAction::<SaveMailbox>::new();
    form.follow(move || action.value().get());
    // "Change it" from a failed test names the field at fault (`#f-smtp_port`): it gets focus.
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        use web_sys::wasm_bindgen::JsCast;
        let Some(w) = web_sys::window() else { return };
        let hash = w.location().hash().unwrap_or_default();
        let Some(field) = hash.strip_prefix('#').filter(|h| h.starts_with("f-")) else {
            return;
        };
        if let Some(el) = w
            .document()
            .and_then(|d| d.get_element_by_id(field))
            .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok())
        {
            let _ = el.focus();
        }
    });
    let on_submit = form.submit_with({
        let id = id.clone();
        move |v| {
            action.dispatch(SaveMailbox {
                id: id.clone(),
                account_name: v.account_name,
                email: v.email,
                reply_to: v.reply_to,
                smtp_host: v.smtp_host,
                smtp_port: v.smtp_port,
                smtp_security: v.smtp_security,
                protocol: v.protocol,
                imap_host: v.imap_host,
                imap_port: v.imap_port,
                imap_security: v.imap_security,
                root_folder: v.root_folder,
                timeout_minutes: v.timeout_minutes,
                scopes: v.scopes,
            });
        }
    });
    let reset_scopes = move |_| {
        let protocol = form
            .values
            .with_untracked(|v| Protocol::parse(&v.protocol).unwrap_or(Protocol::Imap));
        form.values
            .update(|v| v.scopes = provider.default_scopes(protocol));
        form.touch("scopes");
    };
    view! {
        <form method="post" action=SaveMailbox::url() on:submit=on_submit novalidate data-hydrated=hydrated>
            <ErrorSummary errors=form.error_list()/>
            <input type="hidden" name="id" value=id.clone()/>
            <fieldset>
                <legend>"Summary"</legend>
                <TextField
                    name="account_name"
                    label="Account name"
                    hint="How this mailbox is called in Mailkey and your application; the e-mail address when left empty."
                    kind=InputKind::NAME
                    required=false
                    value=form.value(|v| &v.account_name)
                    on_input=form.setter("account_name", |v, s| v.account_name = s)
                    on_blur=form.on_blur("account_name")
                    note=form.note("account_name")
                />
                <TextField
                    name="email"
                    label="Email address"
                    hint="The mailbox that signs in: a licensed user mailbox with its own sign-in, not a distribution group."
                    kind=InputKind::EMAIL
                    required=true
                    placeholder="invoices@contoso.com"
                    value=form.value(|v| &v.email)
                    on_input=form.setter("email", |v, s| v.email = s)
                    on_blur=form.on_blur("email")
                    note=form.note("email")
                />
                <TextField
                    name="reply_to"
                    label="Reply address"
                    hint="Where replies should go, if not to the address above."
                    kind=InputKind::EMAIL
                    value=form.value(|v| &v.reply_to)
                    on_input=form.setter("reply_to", |v, s| v.reply_to = s)
                    on_blur=form.on_blur("reply_to")
                    note=form.note("reply_to")
                />
            </fieldset>
            <fieldset>
                <legend>"Outgoing mail (SMTP)"</legend>
                <TextField
                    name="smtp_host"
                    label="Outgoing mail server"
                    required=true
                    value=form.value(|v| &v.smtp_host)
                    on_input=form.setter("smtp_host", |v, s| v.smtp_host = s)
                    on_blur=form.on_blur("smtp_host")
                    note=form.note("smtp_host")
                />
                <div class="field-row">
                    <TextField
                        name="smtp_port"
                        label="Outgoing mail port"
                        kind=InputKind::NUMBER
                        required=true
                        value=form.value(|v| &v.smtp_port)
                        on_input=form.setter("smtp_port", |v, s| v.smtp_port = s)
                        on_blur=form.on_blur("smtp_port")
                        note=form.note("smtp_port")
                    />
                    <SelectField
                        name="smtp_security"
                        label="Outgoing connection encryption"
                        options=security_options()
                        value=form.value(|v| &v.smtp_security)
                        on_input=form.setter_touching("smtp_security", "smtp_port", |v, s| v.smtp_security = s)
                        note=form.note("smtp_security")
                    />
                </div>
            </fieldset>
            <fieldset>
                <legend>"Incoming mail"</legend>
                <SelectField
                    name="protocol"
                    label="Protocol"
                    options=Protocol::ALL.iter().map(|p| (p.as_str(), p.label())).collect()
                    value=form.value(|v| &v.protocol)
                    on_input=form.setter("protocol", |v, s| v.protocol = s)
                    note=form.note("protocol")
                />
                <TextField
                    name="imap_host"
                    label="Incoming mail server"
                    required=true
                    value=form.value(|v| &v.imap_host)
                    on_input=form.setter("imap_host", |v, s| v.imap_host = s)
                    on_blur=form.on_blur("imap_host")
                    note=form.note("imap_host")
                />
                <div class="field-row">
                    <TextField
                        name="imap_port"
                        label="Incoming mail port"
                        kind=InputKind::NUMBER
                        required=true
                        value=form.value(|v| &v.imap_port)
                        on_input=form.setter("imap_port", |v, s| v.imap_port = s)
                        on_blur=form.on_blur("imap_port")
                        note=form.note("imap_port")
                    />
                    <SelectField
                        name="imap_security"
                        label="Incoming connection encryption"
                        options=security_options()
                        value=form.value(|v| &v.imap_security)
                        on_input=form.setter_touching("imap_security", "imap_port", |v, s| v.imap_security = s)
                        note=form.note("imap_security")
                    />
                </div>
                <TextField
                    name="root_folder"
                    label="Root folder"
                    hint="The folder to read, usually INBOX."
                    required=true
                    value=form.value(|v| &v.root_folder)
                    on_input=form.setter("root_folder", |v, s| v.root_folder = s)
                    on_blur=form.on_blur("root_folder")
                    note=form.note("root_folder")
                />
            </fieldset>
            <fieldset>
                <legend>"Authentication and connection"</legend>
                <div class="field">
                    <label for="f-scopes">"Scopes"</label>
                    <p class="field-hint" id="f-scopes-hint">
                        "Preset for IMAP and SMTP. Change only if you know why: Graph scopes, scopes of two resources or a missing offline_access break the connection."
                    </p>
                    <textarea
                        id="f-scopes"
                        name="scopes"
                        rows="3"
                        spellcheck="false"
                        autocapitalize="off"
                        aria-describedby="f-scopes-hint f-scopes-msg"
                        aria-invalid=move || if form.note("scopes").get().is_some_and(|n| n.is_error()) { "true" } else { "false" }
                        prop:value=form.value(|v| &v.scopes)
                        on:input=move |ev| form.setter("scopes", |v, s| v.scopes = s).run(event_target_value(&ev))
                        on:blur=move |_| form.touch("scopes")
                    >
                        {draft.mailbox.scopes.clone()}
                    </textarea>
                    <crate::components::field::FieldMessage id="f-scopes-msg".to_string() note=form.note("scopes")/>
                    <button type="button" class="button button-quiet" on:click=reset_scopes>"Reset to defaults"</button>
                </div>
                <TextField
                    name="timeout_minutes"
                    label="Connection timeout (minutes)"
                    kind=InputKind::NUMBER
                    required=true
                    value=form.value(|v| &v.timeout_minutes)
                    on_input=form.setter("timeout_minutes", |v, s| v.timeout_minutes = s)
                    on_blur=form.on_blur("timeout_minutes")
                    note=form.note("timeout_minutes")
                />
            </fieldset>
            <FormFooter
                form_error=form.form_error
                continue_to=form.continue_to
                // The operator's app path starts here: nothing before it to go back to.
                back=(!operator_app).then(|| step_path(&id, Step::RedirectUri))
                pending=action.pending().into()
            />
        </form>
    }
    .into_any()
}
