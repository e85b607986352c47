//! A labelled form field whose rule message appears as the admin types: tied to the input with
//! `aria-describedby`, announced politely to screen readers, and styled as error or warning.

use leptos::prelude::*;

use crate::rules::{Level, Note};

/// What kind of input to render and how phones should treat it.
#[derive(Clone, Copy, Default)]
pub struct InputKind {
    pub html_type: &'static str,
    pub inputmode: Option<&'static str>,
    pub autocomplete: &'static str,
    /// Off for IDs, secrets and URLs: autocorrect mangles them.
    pub spellcheck: bool,
}

impl InputKind {
    pub const TEXT: InputKind = InputKind {
        html_type: "text",
        inputmode: None,
        autocomplete: "off",
        spellcheck: false,
    };
    pub const NAME: InputKind = InputKind {
        html_type: "text",
        inputmode: None,
        autocomplete: "off",
        spellcheck: true,
    };
    pub const EMAIL: InputKind = InputKind {
        html_type: "email",
        inputmode: Some("email"),
        autocomplete: "email",
        spellcheck: false,
    };
    pub const URL: InputKind = InputKind {
        html_type: "url",
        inputmode: Some("url"),
        autocomplete: "off",
        spellcheck: false,
    };
    pub const NUMBER: InputKind = InputKind {
        html_type: "text",
        inputmode: Some("numeric"),
        autocomplete: "off",
        spellcheck: false,
    };
    pub const DATE: InputKind = InputKind {
        html_type: "date",
        inputmode: None,
        autocomplete: "off",
        spellcheck: false,
    };
    pub const SECRET: InputKind = InputKind {
        html_type: "password",
        inputmode: None,
        // Stops password managers from offering to save or fill an app secret.
        autocomplete: "new-password",
        spellcheck: false,
    };
}

/// The message under a field, or nothing.
#[component]
pub fn FieldMessage(id: String, note: Signal<Option<Note>>) -> impl IntoView {
    view! {
        <p class="field-msg" id=id aria-live="polite">
            {move || {
                note.get()
                    .map(|n| {
                        let (class, prefix) = match n.level {
                            Level::Error => ("msg-error", "Error: "),
                            Level::Warning => ("msg-warning", "Warning: "),
                        };
                        view! {
                            <span class=class>
                                <span class="visually-hidden">{prefix}</span>
                                {n.message}
                            </span>
                        }
                    })
            }}
        </p>
    }
}

/// The input's HTML ID: what labels, hints and the error summary's links point at.
pub fn field_id(scope: Option<&str>, name: &str) -> String {
    match scope {
        Some(scope) => format!("f-{scope}-{name}"),
        None => format!("f-{name}"),
    }
}

#[component]
pub fn TextField(
    /// The input's `name`: the server function's argument and the rules' field name.
    name: &'static str,
    label: &'static str,
    #[prop(optional)] hint: Option<&'static str>,
    #[prop(default = InputKind::TEXT)] kind: InputKind,
    #[prop(optional)] required: bool,
    #[prop(optional)] placeholder: Option<&'static str>,
    value: Signal<String>,
    on_input: Callback<String>,
    #[prop(optional)] on_blur: Option<Callback<()>>,
    note: Signal<Option<Note>>,
    /// Set when one page holds several forms with the same fields, so IDs stay unique.
    #[prop(default = None)]
    scope: Option<&'static str>,
) -> impl IntoView {
    let id = field_id(scope, name);
    let hint_id = format!("{id}-hint");
    let msg_id = format!("{id}-msg");
    let described = if hint.is_some() {
        format!("{hint_id} {msg_id}")
    } else {
        msg_id.clone()
    };
    let level = move || note.get().map(|n| n.level);
    view! {
        <div
            class="field"
            class:field-error=move || level() == Some(Level::Error)
            class:field-warning=move || level() == Some(Level::Warning)
        >
            <label for=id.clone()>{label}{(!required).then_some(view! { <span class="optional">" (optional)"</span> })}</label>
            {hint.map(|h| view! { <p class="field-hint" id=hint_id.clone()>{h}</p> })}
            <input
                id=id
                name=name
                type=kind.html_type
                inputmode=kind.inputmode
                autocomplete=kind.autocomplete
                spellcheck=if kind.spellcheck { "true" } else { "false" }
                autocapitalize="off"
                placeholder=placeholder
                required=required
                aria-describedby=described
                aria-invalid=move || if level() == Some(Level::Error) { "true" } else { "false" }
                prop:value=move || value.get()
                value=value.get_untracked()
                on:input=move |ev| on_input.run(event_target_value(&ev))
                on:blur=move |_| {
                    if let Some(cb) = on_blur {
                        cb.run(())
                    }
                }
            />
            <FieldMessage id=msg_id note=note/>
        </div>
    }
}

/// A `<select>` with fixed options as (value, label).
#[component]
pub fn SelectField(
    name: &'static str,
    label: &'static str,
    #[prop(optional)] hint: Option<&'static str>,
    options: Vec<(&'static str, &'static str)>,
    value: Signal<String>,
    on_input: Callback<String>,
    note: Signal<Option<Note>>,
) -> impl IntoView {
    let id = format!("f-{name}");
    let hint_id = format!("{id}-hint");
    let msg_id = format!("{id}-msg");
    let described = if hint.is_some() {
        format!("{hint_id} {msg_id}")
    } else {
        msg_id.clone()
    };
    let level = move || note.get().map(|n| n.level);
    let initial = value.get_untracked();
    view! {
        <div
            class="field"
            class:field-error=move || level() == Some(Level::Error)
            class:field-warning=move || level() == Some(Level::Warning)
        >
            <label for=id.clone()>{label}</label>
            {hint.map(|h| view! { <p class="field-hint" id=hint_id.clone()>{h}</p> })}
            <select
                id=id
                name=name
                aria-describedby=described
                aria-invalid=move || if level() == Some(Level::Error) { "true" } else { "false" }
                prop:value=move || value.get()
                on:change=move |ev| on_input.run(event_target_value(&ev))
            >
                {options
                    .into_iter()
                    .map(|(v, l)| view! { <option value=v selected=v == initial>{l}</option> })
                    .collect_view()}
            </select>
            <FieldMessage id=msg_id note=note/>
        </div>
    }
}
