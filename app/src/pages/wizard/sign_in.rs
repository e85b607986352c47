//! "Sign in with Microsoft": the connection as the server knows it, the last attempt's outcome in
//! plain words, and the button.
//!
//! The button is a link to the same-tab sign-in, so it works without the wasm. With it, a click
//! opens a popup synchronously (so blockers allow it) on Mailkey's own start address, which sends
//! it on to Microsoft; a blocked popup, or a phone-sized window, falls back to the link. The page
//! learns the result two ways: a `postMessage` from the popup (checked for Mailkey's origin), and
//! a stream of server-sent events, which works when the popup lost `window.opener` or Mailkey runs in a
//! cross-origin iframe. Nothing here needs to be the top window.

use leptos::prelude::*;

use super::{connection_test::ConnectionTestSection, prerequisites::Prerequisites};
use crate::{
    draft::Step,
    server_fns::{connection, step_path},
    sign_in::{ConnectionStatus, SignInOutcome, SignInProblem},
};

/// Where a sign-in starts: Mailkey's server records the attempt and redirects to Microsoft.
pub fn start_path(id: &str, popup: bool) -> String {
    format!(
        "/accounts/{id}/sign-in?mode={}",
        if popup { "popup" } else { "redirect" }
    )
}

/// Windows narrower than this sign in in the same tab: a popup would cover the whole phone.
const NARROW_PX: f64 = 600.0;

pub(crate) fn when(secs: i64) -> String {
    // Server-rendered, so the server's clock and UTC; precise enough for "when".
    let day = crate::rules::dates::Day(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    format!("{} {:02}:{:02} UTC", day.iso(), rem / 3600, rem % 3600 / 60)
}

#[component]
pub fn Problem(id: String, problem: SignInProblem) -> impl IntoView {
    let step = problem.step.and_then(Step::from_number);
    view! {
        <div class="alert alert-error sign-in-problem" role="alert">
            <h3>{problem.title.clone()}</h3>
            <p><strong>"What happened: "</strong>{problem.what.clone()}</p>
            <p><strong>"Why: "</strong>{problem.why.clone()}</p>
            <p><strong>"What to do: "</strong>{problem.fix.clone()}</p>
            <p class="problem-actions">
                {step.map(|s| view! {
                    <a class="button button-secondary" href=step_path(&id, s)>{format!("Change it: {}", s.title())}</a>
                })}
            </p>
            {problem.admin_consent.then(|| view! {
                <div class="consent-ways">
                    <p><strong>"Two ways forward:"</strong></p>
                    <p class="problem-actions">
                        <a class="button button-secondary" href=format!("/accounts/{id}/admin-consent")>"I am an administrator — grant for my organisation"</a>
                    </p>
                    <form class="problem-actions" method="post" action=format!("/accounts/{id}/admin-consent-link")>
                        <button type="submit" class="button button-secondary">"Get a link for your administrator"</button>
                    </form>
                    <p class="field-hint">"After consent is granted, sign in again below."</p>
                </div>
            })}
            {problem.sign_in_again_as.clone().map(|who| view! {
                <p>"Use the button below to sign in again as " <strong>{who}</strong> "."</p>
            })}
            {problem.detail.clone().map(|d| view! {
                <details><summary>"Microsoft's message"</summary><p><code>{d}</code></p></details>
            })}
        </div>
    }
}

/// The sign-in part of the review step and of the account page.
#[component]
pub fn SignInSection(id: String, mailbox: String, ready: bool) -> AnyView {
    let status = Resource::new(
        {
            let id = id.clone();
            move || id.clone()
        },
        connection,
    );
    view! {
        <section class="sign-in-step" aria-labelledby="sign-in-heading">
            <h2 id="sign-in-heading">"Sign in"</h2>
            <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || {
                    let id = id.clone();
                    let mailbox = mailbox.clone();
                    Suspend::new(async move {
                        match status.await {
                            Ok(s) => view! { <Connection id=id mailbox=mailbox ready=ready status=s/> }.into_any(),
                            Err(e) => view! { <p class="alert alert-error" role="alert">{e.to_string()}</p> }.into_any(),
                        }
                    })
                }}
            </Suspense>
        </section>
    }
    .into_any()
}

#[component]
fn Connection(id: String, mailbox: String, ready: bool, status: ConnectionStatus) -> AnyView {
    let connected = status.state == "connected" && status.refresh_token_stored;
    let summary = match (&status.signed_in_as, status.signed_in_at) {
        (Some(who), Some(at)) if connected => Some(view! {
            <p class="alert alert-success" role="status">
                "Connected: signed in as " <strong>{who.clone()}</strong> " on " {when(at)} "."
            </p>
            <dl class="values">
                <dt>"Refresh token"</dt><dd>"Stored, encrypted; Mailkey renews access tokens by itself"</dd>
                <dt>"Access token"</dt>
                <dd>{match status.access_token_expires_at {
                    Some(exp) => format!("Cached until {}", when(exp)),
                    None => "None cached; the next request gets a fresh one".into(),
                }}</dd>
            </dl>
        }.into_any()),
        _ => None,
    };
    let outcome = match status.last_outcome.clone() {
        Some(SignInOutcome::Failed { problem }) => {
            Some(view! { <Problem id=id.clone() problem=problem/> }.into_any())
        }
        Some(SignInOutcome::ConsentGranted) => Some(
            view! {
                <p class="alert alert-success" role="status">
                    "Microsoft reports that an administrator granted consent for the organisation. Sign in now."
                </p>
            }
            .into_any(),
        ),
        _ => None,
    };
    let attention = (!connected)
        .then(|| status.problem.clone())
        .flatten()
        .filter(|_| !matches!(status.last_outcome, Some(SignInOutcome::Failed { .. })))
        .map(|problem| view! { <Problem id=id.clone() problem=problem/> });
    let tried = status.signed_in_as.is_some() || status.last_outcome.is_some();
    let label = if connected || tried {
        "Sign in again"
    } else {
        "Sign in with Microsoft"
    };
    // Also while the app is refused (the sign-in is kept): the test says what still fails.
    let test = status
        .refresh_token_stored
        .then(|| view! { <ConnectionTestSection id=id.clone()/> });
    view! {
        {summary}
        {attention}
        {outcome}
        {if ready {
            let checklist = (!connected).then(|| {
                view! { <Prerequisites id=id.clone() items=status.prerequisites.clone()/> }
            });
            view! {
                {checklist}
                {if mailbox.trim().is_empty() {
                    view! { <p>"Sign in with the mailbox's own Microsoft 365 account: the account that signs in is the mailbox Mailkey connects."</p> }.into_any()
                } else {
                    view! { <p>"The mailbox owner signs in with Microsoft as " <strong>{mailbox}</strong> "."</p> }.into_any()
                }}
                <SignInButton id=id label=label.to_string() seen=status.last_attempt/>
            }.into_any()
        } else {
            view! { <p class="alert alert-warning" role="status">"Finish the steps above before signing in."</p> }.into_any()
        }}
        {test}
    }
    .into_any()
}

/// The button. `seen` is the latest finished attempt the page already shows, so the stream can
/// tell a new result from an old one.
#[island(lazy)]
pub fn SignInButton(id: String, label: String, seen: Option<i64>) -> impl IntoView {
    let hydrated = crate::components::hydrated::marker();
    let waiting = RwSignal::new(false);
    let same_tab = start_path(&id, false);
    #[cfg(feature = "hydrate")]
    let on_click = {
        let id = id.clone();
        move |ev: leptos::ev::MouseEvent| {
            if waiting.get_untracked() {
                ev.prevent_default();
                return;
            }
            if let Some(popup) = open_popup(&start_path(&id, true)) {
                ev.prevent_default();
                waiting.set(true);
                watch(id.clone(), seen, popup, waiting);
            }
            // Otherwise the link itself signs in in this tab.
        }
    };
    #[cfg(not(feature = "hydrate"))]
    let on_click = move |_: leptos::ev::MouseEvent| {
        let _ = (seen, &waiting);
    };
    view! {
        <div class="sign-in-action" data-hydrated=hydrated>
            <a class="button button-primary" id="sign-in" href=same_tab on:click=on_click>{label}</a>
            <p class="hint" role="status" aria-live="polite">
                {move || waiting.get().then_some(
                    "Complete the sign-in in Microsoft's window. This page updates by itself when you are done."
                )}
            </p>
        </div>
    }
}

/// Opens the sign-in popup, in the click itself. `None` when blocked, or on a narrow screen when
/// Mailkey is the top window. Inside a frame it always tries the popup: Microsoft's page refuses
/// to be framed, so a same-tab sign-in cannot work there.
#[cfg(feature = "hydrate")]
fn open_popup(url: &str) -> Option<web_sys::Window> {
    let w = web_sys::window()?;
    let framed = w.parent().ok().flatten().is_some_and(|p| {
        !web_sys::wasm_bindgen::JsValue::from(p)
            .eq(&web_sys::wasm_bindgen::JsValue::from(w.clone()))
    });
    let width = w.inner_width().ok()?.as_f64()?;
    if width < NARROW_PX && !framed {
        return None;
    }
    // Microsoft's sign-in page is designed for about 500 × 600.
    w.open_with_url_and_target_and_features(
        url,
        "mailkey-sign-in",
        "popup=yes,width=520,height=700",
    )
    .ok()
    .flatten()
}

#[cfg(not(feature = "hydrate"))]
#[allow(dead_code)]
fn open_popup(_: &str) -> Option<()> {
    let _ = NARROW_PX;
    None
}

/// Reloads the page (the server renders the result) once the sign-in finished: on the popup's
/// message, or on the server's `finished` event for an attempt other than `seen`. A popup closed
/// without a result (cancelled) puts the button back after a short grace.
#[cfg(feature = "hydrate")]
fn watch(id: String, seen: Option<i64>, popup: web_sys::Window, waiting: RwSignal<bool>) {
    use std::{cell::Cell, rc::Rc, time::Duration};
    use web_sys::wasm_bindgen::{closure::Closure, JsCast};

    fn reload() {
        if let Some(w) = web_sys::window() {
            let _ = w.location().reload();
        }
    }
    let own_origin = web_sys::window().and_then(|w| w.location().origin().ok());
    let listener = window_event_listener(leptos::ev::message, move |ev: web_sys::MessageEvent| {
        if own_origin.as_deref() == Some(ev.origin().as_str())
            && ev.data().as_string().as_deref() == Some("mailkey:sign-in-finished")
        {
            reload();
        }
    });
    let since = seen.map(|s| format!("?since={s}")).unwrap_or_default();
    let events = web_sys::EventSource::new(&format!("/accounts/{id}/sign-in/events{since}")).ok();
    if let Some(events) = &events {
        let on_finished = Closure::<dyn FnMut(web_sys::Event)>::new(|_| reload());
        let _ = events
            .add_event_listener_with_callback("finished", on_finished.as_ref().unchecked_ref());
        on_finished.forget();
    }
    // Checks twice a second whether the popup is gone; 3 s after, gives up waiting.
    let handle = Rc::new(Cell::new(None));
    let ticks_since_closed = Cell::new(0u32);
    let stop = handle.clone();
    let listener = Cell::new(Some(listener));
    let check = move || {
        if !popup.closed().unwrap_or(true) {
            return;
        }
        ticks_since_closed.set(ticks_since_closed.get() + 1);
        if ticks_since_closed.get() < 6 {
            return;
        }
        if let Some(events) = &events {
            events.close();
        }
        if let Some(l) = listener.take() {
            l.remove();
        }
        if let Some(h) = stop.take() {
            let h: IntervalHandle = h;
            h.clear();
        }
        waiting.set(false);
    };
    if let Ok(h) = set_interval_with_handle(check, Duration::from_millis(500)) {
        handle.set(Some(h));
    }
}
