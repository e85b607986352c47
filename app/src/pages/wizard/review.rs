//! Step 5: every value at a glance (secrets only as "set"), each with a way back to its step, and
//! the sign-in.

use leptos::prelude::*;

use crate::{
    components::layout::NoteAlert,
    draft::{Draft, Step},
    provider::{Protocol, Security},
    rules::{dates::Day, secret::saved_expiry_notice},
    server_fns::step_path,
};

use super::sign_in::SignInSection;

fn or_dash(s: &str) -> String {
    if s.trim().is_empty() {
        "—".into()
    } else {
        s.trim().to_string()
    }
}

fn security(s: &str) -> String {
    Security::parse(s)
        .map(|s| s.label().to_string())
        .unwrap_or_else(|| or_dash(s))
}

#[component]
fn Section(title: &'static str, edit: String, rows: Vec<(&'static str, String)>) -> impl IntoView {
    view! {
        <section class="review-section">
            <div class="review-head">
                <h2>{title}</h2>
                <a class="button button-quiet" href=edit aria-label=format!("Edit {}", title.to_lowercase())>"Edit"</a>
            </div>
            <dl class="values">
                {rows
                    .into_iter()
                    .map(|(k, v)| view! { <dt>{k}</dt><dd>{v}</dd> })
                    .collect_view()}
            </dl>
        </section>
    }
}

#[component]
pub fn Review(draft: Draft) -> AnyView {
    let a = &draft.app;
    let m = &draft.mailbox;
    let secret = match (&draft.client_secret.set, &draft.client_secret.expires) {
        (true, Some(exp)) => format!("Set (expires {exp})"),
        (true, None) => "Set".to_string(),
        (false, _) => "Not set".to_string(),
    };
    let tenant = match &draft.tenant_id {
        Some(t) if a.tenant.trim().is_empty() => format!("{t} (found from the mailbox's address)"),
        Some(t) if !t.eq_ignore_ascii_case(a.tenant.trim()) => format!("{} ({t})", a.tenant),
        None if a.tenant.trim().is_empty() => "Found from the mailbox's address".to_string(),
        _ => or_dash(&a.tenant),
    };
    let endpoints = if a.custom_endpoints {
        "Pasted"
    } else {
        "Derived from the tenant"
    };
    let complete = draft.saved_step >= Step::Mailbox.number();
    let expiry = draft
        .operator_app
        .is_none()
        .then(|| saved_expiry_notice(draft.client_secret.expires.as_deref(), Day(draft.today)))
        .flatten()
        .map(|n| view! { <NoteAlert note=n/> });
    let protocol = Protocol::parse(&m.protocol).unwrap_or(Protocol::Imap);
    let application = match &draft.operator_app {
        Some(name) => view! {
            <section class="review-section">
                <div class="review-head"><h2>"Application"</h2></div>
                <p>{match &draft.tenant_id {
                    Some(t) => format!(
                        "The app {name}, this Mailkey's own: nothing to register. Organisation (tenant) {t}, found from the mailbox's domain; the sign-in confirms it."
                    ),
                    None => format!("The app {name}, this Mailkey's own: nothing to register. The organisation is learnt at sign-in."),
                }}</p>
            </section>
        }
        .into_any(),
        None => view! {
            <Section
                title="Application"
                edit=step_path(&draft.id, Step::AppDetails)
                rows=vec![
                    ("Tenant", tenant),
                    ("Application (client) ID", or_dash(&a.client_id)),
                    ("Application display name", or_dash(&a.app_name)),
                    ("Client secret", secret),
                    ("Endpoints", endpoints.to_string()),
                ]
            />
            {expiry}
            <Section
                title="Redirect URI"
                edit=step_path(&draft.id, Step::RedirectUri)
                rows=vec![("Redirect URI (platform Web)", draft.redirect_uri.clone())]
            />
        }
        .into_any(),
    };
    view! {
        {application}
        <Section
            title="Mailbox"
            edit=step_path(&draft.id, Step::Mailbox)
            rows=vec![
                ("Account name", if m.account_name.trim().is_empty() && m.email.trim().is_empty() {
                    "The mailbox's address, once signed in".to_string()
                } else {
                    or_dash(&m.account_name)
                }),
                ("Email address", if m.email.trim().is_empty() {
                    "The account that signs in (change it to connect another mailbox)".to_string()
                } else {
                    m.email.trim().to_string()
                }),
                ("Reply address", or_dash(&m.reply_to)),
                ("Outgoing mail server", format!("{}:{} · {}", or_dash(&m.smtp_host), or_dash(&m.smtp_port), security(&m.smtp_security))),
                ("Incoming mail server", format!("{} {}:{} · {}", protocol.as_str().to_uppercase(), or_dash(&m.imap_host), or_dash(&m.imap_port), security(&m.imap_security))),
                ("Root folder", or_dash(&m.root_folder)),
                ("Connection timeout", match m.timeout_minutes.trim() {
                    "1" => "1 minute".to_string(),
                    t => format!("{} minutes", or_dash(t)),
                }),
                ("Scopes", or_dash(&m.scopes)),
            ]
        />
        <SignInSection id=draft.id.clone() mailbox=m.email.clone() ready=complete/>
    }
    .into_any()
}
