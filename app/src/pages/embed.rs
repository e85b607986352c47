//! `/embed/{launch_token}`: one account's wizard inside the host's page (an iframe) or
//! top-level (the hosted link). No accounts list, no operator menu: the host application's and
//! the organisation's names where the portal shows its own.
//!
//! The server renders what the launch token may still do without using it (a link scanner
//! must not spend it); the [`EmbedFlow`] island then uses it once and keeps the credential it
//! gets in memory, sending it as a header: no cookie, so third-party cookie blocking changes
//! nothing. Sign-in opens a popup in the click (Microsoft refuses to be framed); the frame learns
//! the result from the server, so a cut `window.opener` changes nothing either.
//!
//! Messages to the parent name its exact origin (one of the session's allowed origins); messages
//! from it are accepted only from that origin and only in the documented shapes.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use crate::{connect::EmbedPreview, error::PortalError};

#[server(prefix = "/_fn", endpoint = "embed/preview")]
pub async fn load_embed(launch_token: String) -> Result<EmbedPreview, PortalError> {
    let (backend, _) = crate::backend::request_context()?;
    let preview = backend.0.embed_preview(launch_token).await?;
    // Only the session's own parents may frame this page.
    crate::backend::set_frame_ancestors(&preview.parent_origins);
    Ok(preview)
}

#[component]
pub fn EmbedPage() -> impl IntoView {
    let params = use_params_map();
    let token = move || params.with(|p| p.get("token").unwrap_or_default());
    let preview = Resource::new(token, load_embed);
    view! {
        <Title text="Connect your mailbox"/>
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match preview.await {
                    Ok(p) => view! { <EmbedView token=token() preview=p/> }.into_any(),
                    Err(e) => view! {
                        <section class="panel embed"><p class="alert alert-error" role="alert">{e.to_string()}</p></section>
                    }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn EmbedView(token: String, preview: EmbedPreview) -> impl IntoView {
    let heading = if preview.host_name.trim().is_empty() {
        "Connect your mailbox".to_string()
    } else {
        format!("Connect your mailbox to {}", preview.host_name.trim())
    };
    let organisation = (!preview.organisation.is_empty()).then(|| {
        view! { <p class="eyebrow">{preview.organisation.clone()}</p> }
    });
    let body = match preview.refused.clone() {
        Some((code, words)) => view! {
            <p class="alert alert-error" role="alert" id="embed-refused" data-code=code.clone()>{words}</p>
            <EmbedNotice code=code parent_origins=preview.parent_origins.clone()/>
        }
        .into_any(),
        None => view! {
            <EmbedFlow
                launch_token=token
                parent_origins=preview.parent_origins.clone()
                return_url=preview.return_url.clone()
            />
        }
        .into_any(),
    };
    view! {
        <section class="panel embed" aria-labelledby="embed-heading">
            {organisation}
            <h1 id="embed-heading">{heading}</h1>
            {body}
            <p class="embed-footer hint">"Secured by Mailkey. Your password goes to Microsoft only."</p>
        </section>
    }
}

/// A refused launch token: the parent hears it (with a stable code) so it can mint a new one.
#[island]
fn EmbedNotice(code: String, parent_origins: Vec<String>) -> impl IntoView {
    let hydrated = crate::components::hydrated::marker();
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        let parent = client::Parent::find(&parent_origins);
        parent.send("error", serde_json::json!({ "code": code }));
    });
    #[cfg(not(feature = "hydrate"))]
    let _ = (code, parent_origins);
    view! { <span hidden data-hydrated=hydrated></span> }
}

/// Where the flow stands.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
enum Phase {
    Starting,
    /// The session cannot go on: the words, and whether a new session would help.
    Stopped(String),
    /// Setup steps are missing that only the hosted portal asks for.
    NotReady,
    SignIn,
    /// The popup is open (or was blocked: its address to open by hand).
    Waiting(Option<String>),
    Testing,
    Failed,
    Connected(String),
}

#[island]
pub fn EmbedFlow(
    launch_token: String,
    parent_origins: Vec<String>,
    return_url: Option<String>,
) -> impl IntoView {
    let phase = RwSignal::new(Phase::Starting);
    let mailbox = RwSignal::new(String::new());
    let app_name = RwSignal::new(String::new());
    let problem = RwSignal::new(None::<crate::sign_in::SignInProblem>);
    let stages = RwSignal::new(Vec::<crate::mail_test::StageEvent>::new());
    let diagnosis = RwSignal::new(None::<crate::mail_test::Diagnosis>);
    let hydrated = crate::components::hydrated::marker();

    #[cfg(feature = "hydrate")]
    let flow = client::Flow::new(
        launch_token,
        parent_origins,
        return_url,
        client::Signals {
            phase,
            mailbox,
            app_name,
            problem,
            stages,
            diagnosis,
        },
    );
    // The flow lives in this browser thread only; views hold a handle to it.
    #[cfg(feature = "hydrate")]
    let flow = StoredValue::new_local(flow);
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| flow.with_value(|f| f.clone().start()));
    #[cfg(not(feature = "hydrate"))]
    let _ = (launch_token, parent_origins, return_url);

    let sign_in = move |admin_consent: bool| {
        #[cfg(feature = "hydrate")]
        flow.with_value(|f| f.sign_in(admin_consent));
        #[cfg(not(feature = "hydrate"))]
        let _ = admin_consent;
    };
    let test_again = move |_| {
        #[cfg(feature = "hydrate")]
        flow.with_value(|f| f.test());
    };
    let sign_in_again = sign_in;
    let consent = sign_in;

    view! {
        <div class="embed-flow" data-hydrated=hydrated aria-live="polite">
            {move || match phase.get() {
                Phase::Starting => view! { <p class="loading" id="embed-starting">"Starting…"</p> }.into_any(),
                Phase::Stopped(words) => view! {
                    <p class="alert alert-error" role="alert" id="embed-stopped">{words}</p>
                }.into_any(),
                Phase::NotReady => view! {
                    <p class="alert alert-warning" role="status" id="embed-not-ready">
                        "This mailbox needs settings only the full setup asks for (its own app registration). Ask the application to use its sign-in-only setup, or finish it in Mailkey's portal."
                    </p>
                }.into_any(),
                Phase::SignIn => {
                    view! {
                        <p>
                            "Sign in with Microsoft as " <strong id="embed-mailbox">{move || mailbox.get()}</strong>
                            " and accept the permissions for " {move || app_name.get()} ". Nothing else to fill in."
                        </p>
                        {move || problem.get().map(|p| {
                                    view! {
                                <div class="alert alert-error sign-in-problem" role="alert">
                                    <h2>{p.title.clone()}</h2>
                                    <p><strong>"What happened: "</strong>{p.what.clone()}</p>
                                    <p><strong>"What to do: "</strong>{p.fix.clone()}</p>
                                    {p.admin_consent.then(|| view! {
                                        <button type="button" class="button button-secondary" id="embed-admin-consent"
                                            on:click=move |_| consent(true)>
                                            "I am an administrator — grant for my organisation"
                                        </button>
                                    })}
                                </div>
                            }
                        })}
                        <button type="button" class="button button-primary" id="embed-sign-in"
                            on:click=move |_| sign_in(false)>
                            "Sign in with Microsoft"
                        </button>
                    }.into_any()
                }
                Phase::Waiting(blocked) => view! {
                    <p role="status" id="embed-waiting">"Complete the sign-in in Microsoft's window. This page goes on by itself when you are done."</p>
                    {blocked.map(|url| view! {
                        <p class="alert alert-warning" role="alert">
                            "Your browser blocked the sign-in window. "
                            <a href=url target="_blank" rel="opener" id="embed-open-sign-in">"Open it here"</a>
                            "."
                        </p>
                    })}
                }.into_any(),
                Phase::Testing | Phase::Failed | Phase::Connected(_) => {
                    let state = phase.get();
                    view! {
                        {match &state {
                            Phase::Connected(who) => view! {
                                <div class="alert alert-success embed-connected" role="status" id="embed-connected">
                                    <h2>"Connected"</h2>
                                    <p>{format!("{who} can send and receive: the test mail went out and came back.")}</p>
                                </div>
                            }.into_any(),
                            Phase::Testing => view! { <p role="status" id="embed-testing">"Testing: sending a message and reading it back…"</p> }.into_any(),
                            _ => view! { <span></span> }.into_any(),
                        }}
                        <ol class="timeline">
                            {move || stages.with(|s| s.iter().map(super::wizard::stage_row).collect_view())}
                        </ol>
                        {move || diagnosis.get().map(|d| view! {
                            <div class="alert alert-error" role="alert" id="embed-diagnosis" data-code=d.code.clone()>
                                <h2>{d.title.clone()}</h2>
                                <p><strong>"What happened: "</strong>{d.what.clone()}</p>
                                <p><strong>"Why: "</strong>{d.why.clone()}</p>
                                <p><strong>"What to do: "</strong>{d.fix.clone()}</p>
                            </div>
                        })}
                        {matches!(state, Phase::Failed).then(|| view! {
                            <p class="step-nav">
                                <button type="button" class="button button-secondary" on:click=move |_| sign_in_again(false)>"Sign in again"</button>
                                <button type="button" class="button button-primary" id="embed-test-again" on:click=test_again>"Test again"</button>
                            </p>
                        })}
                    }.into_any()
                }
            }}
        </div>
    }
}

#[cfg(feature = "hydrate")]
mod client {
    //! The embedded flow in the browser: the credential in memory, the server's `/embed/…`
    //! routes, and the messages to and from the parent page.

    use std::{cell::RefCell, rc::Rc, time::Duration};

    use gloo_net::http::{Request, Response};
    use leptos::{prelude::*, task::spawn_local};
    use serde::de::DeserializeOwned;
    use serde_json::{json, Value};
    use web_sys::wasm_bindgen::JsValue;

    use super::Phase;
    use crate::{
        connect::{EmbedLaunch, EmbedSignInResult, EmbedState, EmbedTestStarted, EmbedTicket},
        mail_test::{Diagnosis, StageEvent, TestReport},
        sign_in::SignInProblem,
    };

    const UNREACHABLE: &str =
        "Mailkey could not be reached. Check the network connection, then reload.";

    /// The parent page this frame may talk to: its exact origin, or none (top-level, or a
    /// parent not among the session's origins).
    #[derive(Clone)]
    pub struct Parent {
        origin: Rc<RefCell<Option<String>>>,
        allowed: Rc<Vec<String>>,
    }

    impl Parent {
        pub fn find(allowed: &[String]) -> Parent {
            let w = web_sys::window();
            let framed = w.as_ref().is_some_and(|w| {
                w.parent()
                    .ok()
                    .flatten()
                    .is_some_and(|p| !JsValue::from(p).eq(&JsValue::from(w.clone())))
            });
            // Chromium and Safari name the parent's origin; else one allowed origin is it, or
            // the parent says hello first (accepted only from an allowed origin).
            // `location.ancestorOrigins` (not in every browser, nor in web-sys).
            let named = w
                .as_ref()
                .and_then(|w| {
                    let location = JsValue::from(w.location());
                    let list =
                        web_sys::js_sys::Reflect::get(&location, &"ancestorOrigins".into()).ok()?;
                    web_sys::js_sys::Reflect::get(&list, &JsValue::from_f64(0.0))
                        .ok()?
                        .as_string()
                })
                .filter(|o| allowed.contains(o));
            let origin = match (framed, named) {
                (false, _) => None,
                (true, Some(o)) => Some(o),
                (true, None) if allowed.len() == 1 => Some(allowed[0].clone()),
                (true, None) => None,
            };
            Parent {
                origin: Rc::new(RefCell::new(origin)),
                allowed: Rc::new(allowed.to_vec()),
            }
        }

        pub fn is_framed(&self) -> bool {
            web_sys::window().is_some_and(|w| {
                w.parent()
                    .ok()
                    .flatten()
                    .is_some_and(|p| !JsValue::from(p).eq(&JsValue::from(w.clone())))
            })
        }

        /// Sends `{"source": "mailkey", "type": kind, ...data}` to the parent's exact origin.
        pub fn send(&self, kind: &str, data: Value) {
            let Some(origin) = self.origin.borrow().clone() else {
                return;
            };
            let mut message = json!({ "source": "mailkey", "type": kind });
            if let (Some(m), Value::Object(extra)) = (message.as_object_mut(), data) {
                m.extend(extra);
            }
            let Ok(js) = web_sys::js_sys::JSON::parse(&message.to_string()) else {
                return;
            };
            if let Some(parent) = web_sys::window().and_then(|w| w.parent().ok().flatten()) {
                let _ = parent.post_message(&js, &origin);
            }
        }

        /// A message from the parent, if it is one: from its exact origin (or, before the
        /// parent is known, an allowed one saying hello), in a documented shape.
        pub fn accept(&self, ev: &web_sys::MessageEvent) -> Option<Value> {
            let from = ev.origin();
            let known = self.origin.borrow().clone();
            let data: Value = web_sys::js_sys::JSON::stringify(&ev.data())
                .ok()
                .and_then(|s| s.as_string())
                .and_then(|s| serde_json::from_str(&s).ok())?;
            let kind = data.get("type")?.as_str()?.to_string();
            match known {
                Some(o) if o == from => {}
                None if kind == "mailkey:hello" && self.allowed.contains(&from) => {
                    *self.origin.borrow_mut() = Some(from);
                }
                _ => return None,
            }
            match kind.as_str() {
                "mailkey:hello" => Some(data),
                "mailkey:launch" if data.get("launch_token")?.is_string() => Some(data),
                _ => None,
            }
        }
    }

    #[derive(Clone, Copy)]
    pub struct Signals {
        pub phase: RwSignal<Phase>,
        pub mailbox: RwSignal<String>,
        pub app_name: RwSignal<String>,
        pub problem: RwSignal<Option<SignInProblem>>,
        pub stages: RwSignal<Vec<StageEvent>>,
        pub diagnosis: RwSignal<Option<Diagnosis>>,
    }

    struct Inner {
        launch_token: RefCell<String>,
        credential: RefCell<Option<String>>,
        launched: RefCell<Option<EmbedLaunch>>,
        parent: Parent,
        return_url: Option<String>,
        s: Signals,
    }

    #[derive(Clone)]
    pub struct Flow(Rc<Inner>);

    /// Why a call did not give its answer.
    enum Trouble {
        /// The session ended (expired or revoked): the parent is asked for a new one.
        Ended,
        Said(String),
    }

    impl Flow {
        pub fn new(
            launch_token: String,
            parent_origins: Vec<String>,
            return_url: Option<String>,
            s: Signals,
        ) -> Flow {
            Flow(Rc::new(Inner {
                launch_token: RefCell::new(launch_token),
                credential: RefCell::new(None),
                launched: RefCell::new(None),
                parent: Parent::find(&parent_origins),
                return_url,
                s,
            }))
        }

        pub fn start(self) {
            self.listen();
            self.watch_height();
            self.0.parent.send("ready", json!({}));
            spawn_local(async move { self.launch_and_go_on().await });
        }

        fn listen(&self) {
            let flow = self.clone();
            let handle =
                window_event_listener(leptos::ev::message, move |ev: web_sys::MessageEvent| {
                    let Some(msg) = flow.0.parent.accept(&ev) else {
                        return;
                    };
                    if msg["type"] == "mailkey:launch" {
                        if let Some(t) = msg["launch_token"].as_str() {
                            *flow.0.launch_token.borrow_mut() = t.to_string();
                            let flow = flow.clone();
                            spawn_local(async move { flow.launch_and_go_on().await });
                        }
                    }
                });
            // The listener lives as long as the page.
            std::mem::forget(handle);
        }

        /// Tells the parent the content's height whenever it changes (the frame follows it).
        fn watch_height(&self) {
            let parent = self.0.parent.clone();
            let last = std::cell::Cell::new(0i32);
            let _ = set_interval_with_handle(
                move || {
                    let height = web_sys::window()
                        .and_then(|w| w.document())
                        .and_then(|d| d.document_element())
                        .map(|e| e.scroll_height())
                        .unwrap_or(0);
                    if height != last.get() {
                        last.set(height);
                        parent.send("resize", json!({ "height": height }));
                    }
                },
                Duration::from_millis(250),
            );
        }

        async fn call<T: DeserializeOwned>(
            &self,
            method: &str,
            path: &str,
            body: Option<Value>,
        ) -> Result<T, Trouble> {
            let credential = self.0.credential.borrow().clone();
            let builder = match method {
                "POST" => Request::post(path),
                _ => Request::get(path),
            };
            let builder = builder.header("accept", "application/json");
            let builder = match &credential {
                Some(c) => builder.header("authorization", &format!("Bearer {c}")),
                None => builder,
            };
            let sent = match body {
                Some(b) => {
                    builder
                        .json(&b)
                        .map_err(|_| Trouble::Said(UNREACHABLE.into()))?
                        .send()
                        .await
                }
                None => builder.send().await,
            };
            let res: Response = sent.map_err(|_| Trouble::Said(UNREACHABLE.into()))?;
            if res.ok() {
                return res
                    .json()
                    .await
                    .map_err(|_| Trouble::Said(UNREACHABLE.into()));
            }
            let error: Value = res.json().await.unwrap_or(Value::Null);
            let code = error["error"]["code"].as_str().unwrap_or_default();
            if matches!(
                code,
                "session_ended" | "session_expired" | "session_revoked"
            ) {
                return Err(Trouble::Ended);
            }
            let words = error["error"]["message"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| {
                    format!(
                        "Mailkey answered HTTP {}. Reload and try again.",
                        res.status()
                    )
                });
            Err(Trouble::Said(words))
        }

        fn ended(&self) {
            self.0.parent.send("session_expired", json!({}));
            let words = if self.0.parent.is_framed() {
                "This session ended. Getting a new one…"
            } else {
                "This page's session ended (they last a few minutes). Start the connection again from the application."
            };
            self.0.s.phase.set(Phase::Stopped(words.into()));
        }

        async fn launch_and_go_on(&self) {
            let token = self.0.launch_token.borrow().clone();
            *self.0.credential.borrow_mut() = None;
            let launched: Result<EmbedLaunch, Trouble> = self
                .call(
                    "POST",
                    "/embed/session",
                    Some(json!({ "launch_token": token })),
                )
                .await;
            let launched = match launched {
                Ok(l) => l,
                Err(Trouble::Ended) => return self.ended(),
                Err(Trouble::Said(words)) => {
                    self.0.parent.send(
                        "error",
                        json!({ "code": "launch_refused", "message": words }),
                    );
                    return self.0.s.phase.set(Phase::Stopped(words));
                }
            };
            *self.0.credential.borrow_mut() = Some(launched.credential.clone());
            *self.0.launched.borrow_mut() = Some(launched.clone());
            self.refresh(launched.reconnect).await;
        }

        /// Reads the account and shows its next step: a connected account (not to reconnect)
        /// is tested; a ready one signs in.
        async fn refresh(&self, reconnect: bool) {
            let state: EmbedState = match self.call("GET", "/embed/api/state", None).await {
                Ok(s) => s,
                Err(Trouble::Ended) => return self.ended(),
                Err(Trouble::Said(w)) => return self.0.s.phase.set(Phase::Stopped(w)),
            };
            self.0.s.mailbox.set(state.mailbox.clone());
            self.0.s.app_name.set(state.app_name.clone());
            self.0.s.problem.set(state.problem.clone());
            self.0
                .parent
                .send("step_changed", json!({ "step": "sign_in" }));
            if !state.ready_to_sign_in {
                self.0.s.phase.set(Phase::NotReady);
            } else if state.connected && !reconnect {
                self.test();
            } else {
                self.0.s.phase.set(Phase::SignIn);
            }
        }

        /// The sign-in button: the popup opens now, in the click (so no blocker stops it), and
        /// is sent to its one-time ticket once the server made one.
        pub fn sign_in(&self, admin_consent: bool) {
            let popup = web_sys::window().and_then(|w| {
                w.open_with_url_and_target_and_features(
                    "",
                    "mailkey-sign-in",
                    "popup=yes,width=520,height=700",
                )
                .ok()
                .flatten()
            });
            self.0.s.phase.set(Phase::Waiting(None));
            let flow = self.clone();
            spawn_local(async move {
                let ticket: EmbedTicket = match flow
                    .call(
                        "POST",
                        "/embed/api/sign-in",
                        Some(json!({ "admin_consent": admin_consent })),
                    )
                    .await
                {
                    Ok(t) => t,
                    Err(Trouble::Ended) => return flow.ended(),
                    Err(Trouble::Said(w)) => return flow.0.s.phase.set(Phase::Stopped(w)),
                };
                match &popup {
                    Some(p) => {
                        let _ = p.location().set_href(&ticket.url);
                    }
                    None => flow.0.s.phase.set(Phase::Waiting(Some(ticket.url.clone()))),
                }
                flow.wait_for_sign_in(&ticket.ticket).await;
            });
        }

        async fn wait_for_sign_in(&self, ticket: &str) {
            // About ten minutes: as long as the ticket and Microsoft's own page live.
            for _ in 0..30 {
                let result: EmbedSignInResult = match self
                    .call("GET", &format!("/embed/api/sign-in/{ticket}"), None)
                    .await
                {
                    Ok(r) => r,
                    Err(Trouble::Ended) => return self.ended(),
                    Err(Trouble::Said(w)) => return self.0.s.phase.set(Phase::Stopped(w)),
                };
                if !result.finished {
                    continue;
                }
                if result.connected {
                    self.0.s.problem.set(None);
                    self.0.parent.send("signed_in", json!({}));
                    return self.test();
                }
                self.0.s.problem.set(result.problem.clone());
                if let Some(p) = &result.problem {
                    self.0.parent.send(
                        "error",
                        json!({ "code": "sign_in_failed", "message": p.title }),
                    );
                }
                return self.0.s.phase.set(Phase::SignIn);
            }
            self.0.s.phase.set(Phase::SignIn);
        }

        /// Runs the connection test and follows it.
        pub fn test(&self) {
            let flow = self.clone();
            self.0.s.stages.set(Vec::new());
            self.0.s.diagnosis.set(None);
            self.0.s.phase.set(Phase::Testing);
            self.0
                .parent
                .send("step_changed", json!({ "step": "test" }));
            spawn_local(async move {
                let started: EmbedTestStarted =
                    match flow.call("POST", "/embed/api/tests", None).await {
                        Ok(s) => s,
                        Err(Trouble::Ended) => return flow.ended(),
                        Err(Trouble::Said(w)) => return flow.0.s.phase.set(Phase::Stopped(w)),
                    };
                let mut seen = 0usize;
                loop {
                    let progress: Value = match flow
                        .call(
                            "GET",
                            &format!("/embed/api/tests/{}?after={seen}", started.run),
                            None,
                        )
                        .await
                    {
                        Ok(p) => p,
                        Err(Trouble::Ended) => return flow.ended(),
                        Err(Trouble::Said(w)) => return flow.0.s.phase.set(Phase::Stopped(w)),
                    };
                    let events: Vec<StageEvent> =
                        serde_json::from_value(progress["events"].clone()).unwrap_or_default();
                    seen += events.len();
                    flow.0.s.stages.update(|all| {
                        for e in events {
                            match all.iter_mut().find(|s| s.stage == e.stage) {
                                Some(s) => *s = e,
                                None => all.push(e),
                            }
                        }
                        all.sort_by_key(|s| s.stage.order());
                    });
                    let Ok(report) =
                        serde_json::from_value::<TestReport>(progress["report"].clone())
                    else {
                        continue;
                    };
                    return flow.finished(report);
                }
            });
        }

        fn finished(&self, report: TestReport) {
            self.0.s.stages.set(report.stages.clone());
            let launched = self.0.launched.borrow().clone();
            let (account_id, external_id) = launched
                .map(|l| (l.account_id, l.external_id))
                .unwrap_or_default();
            if report.ok {
                let who = self.0.s.mailbox.get_untracked();
                self.0.parent.send("test_passed", json!({}));
                self.0.parent.send(
                    "connected",
                    json!({ "account_id": account_id, "external_id": external_id }),
                );
                self.0.s.phase.set(Phase::Connected(who));
                if !self.0.parent.is_framed() {
                    if let Some(back) = &self.0.return_url {
                        let sep = if back.contains('?') { '&' } else { '?' };
                        let to =
                            format!("{back}{sep}mailkey_outcome=connected&account_id={account_id}");
                        if let Some(w) = web_sys::window() {
                            let _ = w.location().set_href(&to);
                        }
                    }
                }
            } else {
                let code = report
                    .diagnosis
                    .as_ref()
                    .map(|d| d.code.clone())
                    .unwrap_or_default();
                self.0.parent.send("test_failed", json!({ "code": code }));
                self.0.s.diagnosis.set(report.diagnosis.clone());
                self.0.s.phase.set(Phase::Failed);
            }
        }
    }
}
