//! The state every wizard form shares: values as typed, the shared rules run on every change,
//! which fields to show messages for, and the server's answer.

use leptos::{ev::SubmitEvent, prelude::*};

use crate::{
    components::{field::field_id, hydrated::go_to},
    error::PortalError,
    rules::{Findings, Note},
    server_fns::StepSaved,
};

pub struct FormState<T: Send + Sync + 'static> {
    pub values: RwSignal<T>,
    findings: Memo<Findings>,
    touched: RwSignal<Vec<&'static str>>,
    submitted: RwSignal<bool>,
    /// Notes only the server can give (tenant lookup, a second account for the address); cleared
    /// for a field when it changes.
    server_notes: RwSignal<Findings>,
    /// A failure not tied to a field (network, session ended).
    pub form_error: RwSignal<Option<String>>,
    /// Saved, but with warnings worth reading first: where "Continue" leads.
    pub continue_to: RwSignal<Option<String>>,
}

impl<T: Send + Sync + 'static> Clone for FormState<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T: Send + Sync + 'static> Copy for FormState<T> {}

impl<T: Clone + PartialEq + Send + Sync + 'static> FormState<T> {
    pub fn new(initial: T, rules: impl Fn(&T) -> Findings + Send + Sync + 'static) -> Self {
        let values = RwSignal::new(initial);
        FormState {
            values,
            findings: Memo::new(move |_| values.with(&rules)),
            touched: RwSignal::new(Vec::new()),
            submitted: RwSignal::new(false),
            server_notes: RwSignal::new(Findings::default()),
            form_error: RwSignal::new(None),
            continue_to: RwSignal::new(None),
        }
    }

    pub fn value(self, get: fn(&T) -> &String) -> Signal<String> {
        Signal::derive(move || self.values.with(|v| get(v).clone()))
    }

    /// Updates a field. A field that is now valid starts showing live messages; an invalid one
    /// waits for the admin to leave it, so nobody is scolded for a half-typed GUID.
    pub fn setter(self, field: &'static str, set: fn(&mut T, String)) -> Callback<String> {
        Callback::new(move |s: String| {
            self.values.update(|v| set(v, s));
            self.server_notes
                .update(|n| n.0.retain(|x| x.field != field));
            if self.findings.with(|f| f.get(field).is_none()) {
                self.touch(field);
            }
        })
    }

    /// A setter for a value another field's rule depends on (an encryption choice and its port):
    /// the other field's message shows at once.
    pub fn setter_touching(
        self,
        field: &'static str,
        other: &'static str,
        set: fn(&mut T, String),
    ) -> Callback<String> {
        let inner = self.setter(field, set);
        Callback::new(move |s: String| {
            inner.run(s);
            self.touch(field);
            self.touch(other);
        })
    }

    pub fn touch(self, field: &'static str) {
        if !self.touched.with(|t| t.contains(&field)) {
            self.touched.update(|t| t.push(field));
        }
    }

    pub fn on_blur(self, field: &'static str) -> Callback<()> {
        Callback::new(move |_| self.touch(field))
    }

    pub fn set_server_note(self, field: &str, note: Option<Note>) {
        self.server_notes.update(|n| {
            n.0.retain(|x| x.field != field);
            n.add(field, note);
        });
    }

    /// The message under a field: the server's, else the rules' once the field was touched.
    pub fn note(self, field: &'static str) -> Signal<Option<Note>> {
        Signal::derive(move || {
            if let Some(n) = self.server_notes.with(|s| s.get(field)) {
                return Some(n);
            }
            let shown = self.submitted.get() || self.touched.with(|t| t.contains(&field));
            shown
                .then(|| self.findings.with(|f| f.get(field)))
                .flatten()
        })
    }

    /// Called on submit: shows every message; true when the values may go to the server.
    pub fn ready_to_send(self) -> bool {
        self.submitted.set(true);
        self.form_error.set(None);
        !self.findings.with(Findings::has_errors)
    }

    /// Every error to list in the summary above the form, as (field, message).
    pub fn error_list(self) -> Signal<Vec<(String, String)>> {
        Signal::derive(move || {
            if !self.submitted.get() {
                return Vec::new();
            }
            let mut all: Vec<(String, String)> = self.findings.with(|f| {
                f.errors()
                    .map(|(k, m)| (k.to_string(), m.to_string()))
                    .collect()
            });
            self.server_notes.with(|s| {
                for (k, m) in s.errors() {
                    if !all.iter().any(|(f, _)| f == k) {
                        all.push((k.to_string(), m.to_string()));
                    }
                }
            });
            all
        })
    }

    /// The form's submit handler: shows every message, and sends the values only when the rules
    /// find no error (the server checks again).
    pub fn submit_with(self, send: impl Fn(T) + 'static) -> impl Fn(SubmitEvent) + 'static {
        move |ev: SubmitEvent| {
            ev.prevent_default();
            if self.ready_to_send() {
                send(self.values.get_untracked());
            }
        }
    }

    /// Follows the save action's answers (see [`FormState::take_result`]).
    pub fn follow(self, answer: impl Fn() -> Option<Result<StepSaved, PortalError>> + 'static) {
        Effect::new(move |_| {
            if let Some(result) = answer() {
                self.take_result(result, go_to);
            }
        });
    }

    /// A save the server refused: its per-field messages, or one for the whole form.
    pub fn refused(self, e: PortalError) {
        match e {
            PortalError::Invalid(findings) => {
                self.submitted.set(true);
                self.server_notes.set(findings);
            }
            e => self.form_error.set(Some(e.to_string())),
        }
    }

    /// Takes the server's answer: go on, or stay and show what it said.
    pub fn take_result(self, result: Result<StepSaved, PortalError>, navigate: fn(&str)) {
        match result {
            Ok(saved) => {
                // Warnings the browser could not know (e.g. another account uses the address)
                // are shown before moving on.
                let local = self.findings.get_untracked();
                let news: Vec<_> = saved
                    .warnings
                    .0
                    .iter()
                    .filter(|n| !local.0.contains(n))
                    .cloned()
                    .collect();
                if news.is_empty() {
                    navigate(&saved.next_path());
                } else {
                    self.server_notes.set(Findings(news));
                    self.continue_to.set(Some(saved.next_path()));
                }
            }
            Err(e) => self.refused(e),
        }
    }
}

/// The list of errors above a submitted form, each linking to its field.
#[component]
pub fn ErrorSummary(
    errors: Signal<Vec<(String, String)>>,
    /// The fields' scope, when the page has several forms (see `TextField`).
    #[prop(default = None)]
    scope: Option<&'static str>,
) -> impl IntoView {
    view! {
        <Show when=move || !errors.with(Vec::is_empty)>
            <div class="alert alert-error error-summary" role="alert">
                <p><strong>"Please fix these before going on:"</strong></p>
                <ul>
                    {move || {
                        errors
                            .get()
                            .into_iter()
                            .map(|(field, msg)| view! { <li><a href=format!("#{}", field_id(scope, &field))>{msg}</a></li> })
                            .collect_view()
                    }}
                </ul>
            </div>
        </Show>
    }
}

/// A failure not tied to a field, and the "Continue" that follows server-side warnings.
#[component]
pub fn FormFooter(
    form_error: RwSignal<Option<String>>,
    continue_to: RwSignal<Option<String>>,
    back: Option<String>,
    pending: Signal<bool>,
    #[prop(default = "Save and continue")] next_label: &'static str,
) -> AnyView {
    view! {
        {move || form_error.get().map(|e| view! { <p class="alert alert-error" role="alert">{e}</p> })}
        {move || {
            continue_to
                .get()
                .map(|_| {
                    view! {
                        <p class="alert alert-warning" role="status">
                            "Saved. Read the warning above, then continue when you are sure."
                        </p>
                    }
                })
        }}
        // One primary action at a time: after a save with warnings it is "Continue", and saving
        // again (having changed something) is the secondary one.
        <div class="step-nav">
            {back.map(|b| view! { <a class="button button-secondary" href=b>"Back"</a> })}
            <button
                type="submit"
                class=move || if continue_to.get().is_some() { "button button-secondary" } else { "button button-primary" }
                disabled=move || pending.get()
            >
                {move || if pending.get() {
                    "Saving…"
                } else if continue_to.get().is_some() {
                    "Save again"
                } else {
                    next_label
                }}
            </button>
            {move || continue_to.get().map(|to| view! { <a class="button button-primary" id="continue" href=to>"Continue"</a> })}
        </div>
    }
    .into_any()
}
