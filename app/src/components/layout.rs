//! The frame around every page: header with the operator menu, and the footer.

use leptos::{ev, prelude::*};

use crate::{app::OperatorResource, VERSION};

#[component]
pub fn Header() -> impl IntoView {
    let operator = expect_context::<OperatorResource>();
    view! {
        <header class="site-header">
            <a class="brand" href="/">
                <span class="brand-mark" aria-hidden="true">"✉"</span>
                <span>"Mailkey"</span>
            </a>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    matches!(operator.await, Ok(Some(_))).then(|| view! { <OperatorMenu/> })
                })}
            </Transition>
        </header>
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                let notices = match operator.await {
                    Ok(Some(op)) => op.notices,
                    _ => Vec::new(),
                };
                notices
                    .into_iter()
                    .map(|n| {
                        let class = if n.is_error() { "alert alert-error site-notice" } else { "alert alert-warning site-notice" };
                        view! {
                            <p class=class role="alert">
                                {n.message}" "<a href="/settings">"Open the settings"</a>
                            </p>
                        }
                    })
                    .collect_view()
            })}
        </Transition>
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                matches!(operator.await, Ok(Some(op)) if op.sandbox).then(|| view! {
                    <p class="alert alert-warning sandbox-banner" role="note">
                        <strong>"Sandbox identity provider on."</strong>
                        " Accounts using “Microsoft 365 (sandbox)” sign in to Mailkey's own test stand-in, not Microsoft. "
                        <a href="/sandbox">"Its tenants, apps and users"</a>
                    </p>
                })
            })}
        </Transition>
    }
}

/// A note as the alert it is: an error (red, `role=alert`) or a warning (`role=status`).
#[component]
pub fn NoteAlert(note: crate::rules::Note) -> impl IntoView {
    let (class, role) = if note.is_error() {
        ("alert alert-error", "alert")
    } else {
        ("alert alert-warning", "status")
    };
    view! { <p class=class role=role>{note.message}</p> }
}

/// The operator's menu: a disclosure button (keyboard and screen-reader friendly) over a panel.
#[island]
fn OperatorMenu() -> impl IntoView {
    let open = RwSignal::new(false);
    let hydrated = crate::components::hydrated::marker();
    let close_on_escape = move |e: ev::KeyboardEvent| {
        if e.key() == "Escape" {
            open.set(false);
        }
    };
    view! {
        <nav class="operator-menu" aria-label="Operator" data-hydrated=hydrated on:keydown=close_on_escape>
            <button
                type="button"
                class="button button-quiet menu-button"
                aria-expanded=move || open.get().to_string()
                aria-controls="operator-menu-panel"
                on:click=move |_| open.update(|o| *o = !*o)
            >
                "Operator"
                <span aria-hidden="true" class="menu-caret">"▾"</span>
            </button>
            <div id="operator-menu-panel" class="menu-panel" hidden=move || !open.get()>
                <p class="menu-note">"Signed in as the operator of this Mailkey."</p>
                <a class="button button-quiet" href="/settings">"Settings"</a>
                <a class="button button-quiet" href="/api-keys">"API keys"</a>
                <a class="button button-quiet" href="/webhooks">"Webhooks"</a>
                <a class="button button-quiet" href="/audit">"Audit trail"</a>
                <form method="post" action="/logout">
                    <button type="submit" class="button button-secondary">"Sign out"</button>
                </form>
            </div>
        </nav>
    }
}

#[component]
pub fn Footer() -> impl IntoView {
    view! {
        <footer class="site-footer">
            <p>
                "Mailkey " <span class="version">{VERSION}</span>
                " · connects business applications to Microsoft 365 mailboxes over OAuth 2.0"
            </p>
        </footer>
    }
}
