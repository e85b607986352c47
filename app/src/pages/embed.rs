//! `/embed/{launch_token}`: one account's wizard inside the host's page (an iframe) or
//! top-level (the hosted link). No accounts list, no operator menu: the host application's and
//! the organisation's names where the portal shows its own.
//!
//! The server renders what the launch token may still do without using it (a link scanner
//! must not spend it); the flow's code ([`boot`]) then uses it once and keeps the credential it
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
            // The parent hears it (with the stable code) so it can mint a new one: booted as
            // the flow is (see `boot`), not an island.
            <div id="embed-flow" hidden data-refused=code data-parent-origins=preview.parent_origins.join(" ")></div>
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

/// A failed sign-in, as the embedded page shows it.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
struct Problem {
    title: String,
    what: String,
    fix: String,
    admin_consent: bool,
}

/// Where the flow stands.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
enum Phase {
    Starting,
    /// The session cannot go on: the words saying why.
    Stopped(String),
    /// Setup steps are missing that only the hosted portal asks for.
    NotReady,
    /// The own app registration's details are asked for (see `show_app_form`).
    AppSetup,
    SignIn,
    /// The popup is open (or was blocked: its address to open by hand).
    Waiting(Option<String>),
    Testing,
    Failed,
    Connected(String),
}

/// The flow's first step: every phase's markup, rendered by the server and shown, hidden and
/// filled by the flow (`client::Flow::show`). It is not an island: [`boot`] (called by the
/// browser's entry point on every page) starts it, and its code is a chunk of its own loaded
/// only here. The embedded page's first load must be no heavier than the portal's sign-in step;
/// a lazy island's own machinery weighed 8 KB brotli before any of the flow's code, and building
/// or hydrating a reactive view per phase cost more again. What the flow may do is in the
/// `data-` attributes (the launch token, the parent origins and the return URL), as an island's
/// props would be. The later views (the test's, the own-app form) are mounted into the two
/// empty elements at the end by [`go_on`]'s chunk.
#[component]
fn EmbedFlow(
    launch_token: String,
    parent_origins: Vec<String>,
    return_url: Option<String>,
) -> impl IntoView {
    view! {
        <div class="embed-flow" id="embed-flow" aria-live="polite"
            data-launch-token=launch_token
            data-parent-origins=parent_origins.join(" ")
            data-return-url=return_url>
            <p class="loading" id="embed-starting" role="status">"Starting…"</p>
            <p class="alert alert-error" id="embed-stopped" role="alert" hidden></p>
            <p class="alert alert-warning" id="embed-not-ready" role="status" hidden>
                "This connection has no mailbox address yet: the application did not name the mailbox. Start the connection again from the application, or finish the setup in Mailkey's portal."
            </p>
            <p id="embed-waiting" role="status" hidden>
                "Complete the sign-in in Microsoft's window. This page goes on by itself when you are done."
            </p>
            <p class="alert alert-warning" id="embed-blocked" role="alert" hidden>
                "Your browser blocked the sign-in window. "
                <a target="_blank" rel="opener" id="embed-open-sign-in">"Open it here"</a>
                "."
            </p>
            <div id="embed-sign-in-step" hidden>
                <p>
                    "Sign in with Microsoft as " <strong id="embed-mailbox"></strong>
                    " and accept the permissions for " <span id="embed-app-name"></span> ". Nothing else to fill in."
                </p>
                <div class="alert alert-error sign-in-problem" id="embed-problem" role="alert" hidden>
                    <h2 id="embed-problem-title"></h2>
                    <p><strong>"What happened: "</strong><span id="embed-problem-what"></span></p>
                    <p><strong>"What to do: "</strong><span id="embed-problem-fix"></span></p>
                    <button type="button" class="button button-secondary" id="embed-admin-consent" hidden>
                        "I am an administrator — grant for my organisation"
                    </button>
                </div>
                <button type="button" class="button button-primary" id="embed-sign-in">
                    "Sign in with Microsoft"
                </button>
            </div>
            <div id="embed-results"></div>
            <div id="embed-app-form"></div>
        </div>
    }
}

/// Starts the embedded flow if this page is the embedded page (it has the flow's root): its
/// code is a chunk of its own, loaded only then.
#[cfg(feature = "hydrate")]
pub fn boot() {
    let root = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.get_element_by_id("embed-flow"));
    if root.is_some() {
        leptos::task::spawn_local(start());
    }
}

#[cfg(feature = "hydrate")]
#[lazy]
async fn start() {
    let Some(root) = client::element("embed-flow") else {
        return;
    };
    let data = |name: &str| root.get_attribute(name);
    let parent_origins: Vec<String> = data("data-parent-origins")
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    match data("data-refused") {
        // A refused launch token: the parent hears its code, and the page stays as it is.
        Some(code) => {
            let parent = client::Parent::find(&parent_origins);
            parent.send("error", &[("code", client::Value::Str(&code))]);
        }
        None => {
            let launch_token = data("data-launch-token").unwrap_or_default();
            client::Flow::new(launch_token, parent_origins, data("data-return-url")).start();
        }
    }
    // As an island's root says it once its wasm runs (see `components::hydrated`).
    let _ = root.set_attribute("data-hydrated", "true");
}

#[cfg(feature = "hydrate")]
mod client {
    //! The embedded flow in the browser: the credential in memory, the server's `/embed/…`
    //! routes, and the messages to and from the parent page. The first step reads its few JSON
    //! fields through the browser's own `JSON` (no serde_json in this chunk: the embedded page
    //! must be no heavier than the portal's); what follows the first step loads with
    //! [`super::go_on`].

    use std::{cell::RefCell, rc::Rc};

    use leptos::{prelude::*, task::spawn_local};
    use wasm_bindgen_futures::JsFuture;
    use web_sys::{
        js_sys::{Object, Reflect, JSON},
        wasm_bindgen::JsValue,
    };

    use super::{Phase, Problem};
    use crate::mail_test::{Diagnosis, StageEvent};

    const UNREACHABLE: &str =
        "Mailkey could not be reached. Check the network connection, then reload.";

    pub fn field(v: &JsValue, key: &str) -> JsValue {
        Reflect::get(v, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
    }

    pub fn text(v: &JsValue, key: &str) -> Option<String> {
        field(v, key).as_string()
    }

    pub fn flag(v: &JsValue, key: &str) -> bool {
        field(v, key).as_bool().unwrap_or(false)
    }

    /// A JS object of string, number and boolean fields.
    pub enum Value<'a> {
        Str(&'a str),
        Num(f64),
        Bool(bool),
    }

    pub fn object(fields: &[(&str, Value<'_>)]) -> JsValue {
        let o = Object::new();
        for (k, v) in fields {
            let v = match v {
                Value::Str(s) => JsValue::from_str(s),
                Value::Num(n) => JsValue::from_f64(*n),
                Value::Bool(b) => JsValue::from_bool(*b),
            };
            let _ = Reflect::set(&o, &JsValue::from_str(k), &v);
        }
        o.into()
    }

    pub fn problem_of(v: &JsValue) -> Option<Problem> {
        if v.is_null() || v.is_undefined() {
            return None;
        }
        Some(Problem {
            title: text(v, "title").unwrap_or_default(),
            what: text(v, "what").unwrap_or_default(),
            fix: text(v, "fix").unwrap_or_default(),
            admin_consent: flag(v, "admin_consent"),
        })
    }

    fn framed() -> bool {
        web_sys::window().is_some_and(|w| {
            w.parent()
                .ok()
                .flatten()
                .is_some_and(|p| !JsValue::from(p).eq(&JsValue::from(w.clone())))
        })
    }

    /// The page's content height: the panel's bottom edge and a margin below it. Not the
    /// document's scroll height, which is never less than the frame's own height (the layout
    /// fills the viewport), so a frame that grew could never shrink again.
    fn content_height() -> i32 {
        use web_sys::wasm_bindgen::JsCast;
        let panel = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.query_selector(".embed").ok().flatten())
            .and_then(|p| p.dyn_into::<web_sys::HtmlElement>().ok());
        panel.map_or(0, |p| p.offset_top() + p.offset_height() + 24)
    }

    /// The parent page this frame may talk to: its exact origin, or none (top-level, or a
    /// parent not among the session's origins).
    #[derive(Clone)]
    pub struct Parent {
        origin: Rc<RefCell<Option<String>>>,
        allowed: Rc<Vec<String>>,
    }

    impl Parent {
        pub fn find(allowed: &[String]) -> Parent {
            // Chromium and Safari name the parent's origin (`location.ancestorOrigins`, not in
            // web-sys); else the one allowed origin is it, or the parent says hello first
            // (accepted only from an allowed origin).
            let named = web_sys::window()
                .and_then(|w| {
                    let list = field(&JsValue::from(w.location()), "ancestorOrigins");
                    Reflect::get(&list, &JsValue::from_f64(0.0))
                        .ok()?
                        .as_string()
                })
                .filter(|o| allowed.contains(o));
            let origin = match (framed(), named) {
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

        /// Sends `{source: "mailkey", type: kind, ...fields}` to the parent's exact origin;
        /// false while that origin is not known.
        pub fn send(&self, kind: &str, fields: &[(&str, Value<'_>)]) -> bool {
            let Some(origin) = self.origin.borrow().clone() else {
                return false;
            };
            let message = object(fields);
            let _ = Reflect::set(&message, &"source".into(), &"mailkey".into());
            let _ = Reflect::set(&message, &"type".into(), &JsValue::from_str(kind));
            match web_sys::window().and_then(|w| w.parent().ok().flatten()) {
                Some(parent) => parent.post_message(&message, &origin).is_ok(),
                None => false,
            }
        }

        /// A launch token from the parent, if the message is one: from its exact origin (or,
        /// before the parent is known, an allowed one saying hello), in a documented shape.
        pub fn accept(&self, ev: &web_sys::MessageEvent) -> Option<Option<String>> {
            // Only the window that frames this page speaks for the parent.
            let parent = web_sys::window()?.parent().ok()??;
            if !framed()
                || ev
                    .source()
                    .is_none_or(|s| !JsValue::from(s).eq(&JsValue::from(parent)))
            {
                return None;
            }
            let from = ev.origin();
            let data = ev.data();
            let kind = text(&data, "type")?;
            let known = self.origin.borrow().clone();
            match known {
                Some(o) if o == from => match kind.as_str() {
                    "mailkey:launch" => text(&data, "launch_token").map(Some),
                    _ => None,
                },
                // The parent's origin learned now, from its hello: the page says it is ready.
                None if kind == "mailkey:hello" && self.allowed.contains(&from) => {
                    *self.origin.borrow_mut() = Some(from);
                    Some(None)
                }
                _ => None,
            }
        }
    }

    /// What the connection test's view shows: made by the test's chunk when the first test
    /// starts (no signal is in the first step's code).
    #[derive(Clone, Copy)]
    pub struct TestView {
        pub stages: RwSignal<Vec<StageEvent>>,
        pub diagnosis: RwSignal<Option<Diagnosis>>,
    }

    /// An element of the embedded page by its ID.
    pub fn element(id: &str) -> Option<web_sys::HtmlElement> {
        use web_sys::wasm_bindgen::JsCast;
        web_sys::window()?
            .document()?
            .get_element_by_id(id)?
            .dyn_into()
            .ok()
    }

    fn reveal(id: &str, shown: bool) {
        if let Some(e) = element(id) {
            e.set_hidden(!shown);
        }
    }

    fn write(id: &str, words: &str) {
        if let Some(e) = element(id) {
            e.set_text_content(Some(words));
        }
    }

    /// Writes words into a live region (an alert or a status) already shown: emptied first,
    /// so the same words said again are a change a screen reader announces.
    fn say(id: &str, words: &str) {
        write(id, "");
        write(id, words);
    }

    /// A callback for the page's life. One closure type for every listener and the timer
    /// (rather than leptos' typed helpers), as each type is code in the first load.
    fn callback(then: impl Fn(JsValue) + 'static) -> web_sys::js_sys::Function {
        use web_sys::wasm_bindgen::{closure::Closure, JsCast};
        Closure::<dyn Fn(JsValue)>::new(then)
            .into_js_value()
            .unchecked_into()
    }

    /// Calls `then` with the ID of the button clicked inside this element.
    fn on_click(id: &str, then: impl Fn(String) + 'static) {
        use web_sys::wasm_bindgen::JsCast;
        if let Some(e) = element(id) {
            let handler = callback(move |ev| {
                let ev: web_sys::Event = ev.unchecked_into();
                let button = ev
                    .target()
                    .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
                    .and_then(|t| t.closest("button").ok().flatten());
                then(button.map(|b| b.id()).unwrap_or_default());
            });
            let _ = e.add_event_listener_with_callback("click", &handler);
        }
    }

    type Watcher = Box<dyn Fn(&Phase)>;

    struct Inner {
        launch_token: RefCell<String>,
        credential: RefCell<Option<String>>,
        /// What the launch answered (an `EmbedLaunch`), read again for the `connected` event.
        launched: RefCell<JsValue>,
        mailbox: RefCell<String>,
        parent: Parent,
        return_url: Option<String>,
        phase: RefCell<Phase>,
        /// Told of each phase shown: the later views, which follow it with signals of their own.
        watchers: RefCell<Vec<Watcher>>,
        test_view: RefCell<Option<TestView>>,
    }

    #[derive(Clone)]
    pub struct Flow(Rc<Inner>);

    /// Why a call did not give its answer.
    pub enum Trouble {
        /// The session ended (it expired): the parent is asked for a new one.
        Ended,
        Said(String),
        /// Refused with this stable code and these words (a used launch token).
        Refused(String, String),
        /// Values refused field by field (`fields`: name → message), and the overall words.
        Invalid(JsValue, String),
    }

    /// One call to Mailkey: the answer's JSON, or why there is none.
    pub async fn call(
        credential: Option<&str>,
        method: &str,
        path: &str,
        body: Option<JsValue>,
    ) -> Result<JsValue, Trouble> {
        let unreachable = |_| Trouble::Said(UNREACHABLE.into());
        let init = web_sys::RequestInit::new();
        init.set_method(method);
        let headers = web_sys::Headers::new().map_err(unreachable)?;
        let _ = headers.set("accept", "application/json");
        if let Some(c) = credential {
            let _ = headers.set("authorization", &format!("Bearer {c}"));
        }
        if let Some(b) = body {
            let _ = headers.set("content-type", "application/json");
            init.set_body(&JSON::stringify(&b).map_err(unreachable)?.into());
        }
        init.set_headers(&headers.into());
        let window = web_sys::window().ok_or(Trouble::Said(UNREACHABLE.into()))?;
        let res: web_sys::Response = JsFuture::from(window.fetch_with_str_and_init(path, &init))
            .await
            .map_err(unreachable)?
            .into();
        let ok = res.ok();
        let status = res.status();
        let answer = match res.json() {
            Ok(p) => JsFuture::from(p).await.unwrap_or(JsValue::NULL),
            Err(_) => JsValue::NULL,
        };
        if ok {
            return Ok(answer);
        }
        let error = field(&answer, "error");
        let code = text(&error, "code").unwrap_or_default();
        if matches!(code.as_str(), "session_ended" | "session_expired") {
            return Err(Trouble::Ended);
        }
        let words = text(&error, "message")
            .unwrap_or_else(|| format!("Mailkey answered HTTP {status}. Reload and try again."));
        if code == "invalid_fields" {
            return Err(Trouble::Invalid(field(&error, "fields"), words));
        }
        // A revoked session is the host's decision: said, and not replaced by a new one.
        if code.starts_with("launch_token_") || code == "session_revoked" {
            return Err(Trouble::Refused(code, words));
        }
        Err(Trouble::Said(words))
    }

    impl Flow {
        pub fn new(
            launch_token: String,
            parent_origins: Vec<String>,
            return_url: Option<String>,
        ) -> Flow {
            Flow(Rc::new(Inner {
                launch_token: RefCell::new(launch_token),
                credential: RefCell::new(None),
                launched: RefCell::new(JsValue::NULL),
                mailbox: RefCell::new(String::new()),
                parent: Parent::find(&parent_origins),
                return_url,
                phase: RefCell::new(Phase::Starting),
                watchers: RefCell::new(Vec::new()),
                test_view: RefCell::new(None),
            }))
        }

        pub fn start(self) {
            let flow = self.clone();
            on_click("embed-sign-in-step", move |clicked| {
                match clicked.as_str() {
                    "embed-sign-in" => flow.sign_in(false),
                    "embed-admin-consent" => flow.sign_in(true),
                    _ => {}
                }
            });
            self.listen();
            self.watch_height();
            self.0.parent.send("ready", &[]);
            spawn_local(async move { self.launch_and_go_on().await });
        }

        pub async fn call(
            &self,
            method: &str,
            path: &str,
            body: Option<JsValue>,
        ) -> Result<JsValue, Trouble> {
            let credential = self.0.credential.borrow().clone();
            call(credential.as_deref(), method, path, body).await
        }

        fn listen(&self) {
            use web_sys::wasm_bindgen::JsCast;
            let flow = self.clone();
            let on_message = callback(move |ev| {
                let ev: web_sys::MessageEvent = ev.unchecked_into();
                match flow.0.parent.accept(&ev) {
                    Some(Some(token)) => {
                        *flow.0.launch_token.borrow_mut() = token;
                        let flow = flow.clone();
                        spawn_local(async move { flow.launch_and_go_on().await });
                    }
                    // The parent's origin was learned from its hello just now.
                    Some(None) => {
                        flow.0.parent.send("ready", &[]);
                    }
                    None => {}
                }
            });
            if let Some(w) = web_sys::window() {
                let _ = w.add_event_listener_with_callback("message", &on_message);
            }
        }

        /// Tells the parent the content's height whenever it changes (the frame follows it).
        fn watch_height(&self) {
            let parent = self.0.parent.clone();
            let last = std::cell::Cell::new(0i32);
            let tick = callback(move |_| {
                let height = content_height();
                // Kept as sent only once the parent heard it (its origin may come later).
                if height != last.get()
                    && parent.send("resize", &[("height", Value::Num(f64::from(height)))])
                {
                    last.set(height);
                }
            });
            if let Some(w) = web_sys::window() {
                let _ = w.set_interval_with_callback_and_timeout_and_arguments_0(&tick, 200);
            }
        }

        fn ended(&self) {
            self.0.parent.send("session_expired", &[]);
            let words = if framed() {
                "This session ended. Getting a new one…"
            } else {
                "This page's session ended (they last a few minutes). Start the connection again from the application."
            };
            self.show(Phase::Stopped(words.into()));
        }

        pub fn stop(&self, t: Trouble) {
            match t {
                Trouble::Ended => self.ended(),
                Trouble::Said(words) | Trouble::Invalid(_, words) => {
                    self.show(Phase::Stopped(words))
                }
                // A used or unknown launch token: the parent hears the server's own code (and
                // embed.js fetches a new session for a used one).
                Trouble::Refused(code, words) => {
                    self.0.parent.send(
                        "error",
                        &[("code", Value::Str(&code)), ("message", Value::Str(&words))],
                    );
                    self.show(Phase::Stopped(words));
                }
            }
        }

        async fn launch_and_go_on(&self) {
            let token = self.0.launch_token.borrow().clone();
            *self.0.credential.borrow_mut() = None;
            let body = object(&[("launch_token", Value::Str(&token))]);
            let launched = match self.call("POST", "/embed/session", Some(body)).await {
                Ok(l) => l,
                Err(t) => return self.stop(t),
            };
            *self.0.credential.borrow_mut() = text(&launched, "credential");
            let reconnect = flag(&launched, "reconnect");
            let state = field(&launched, "state");
            *self.0.launched.borrow_mut() = launched;
            self.go_on_from(state, reconnect);
        }

        /// Shows the step that follows from this `EmbedState`: a connected account (not to
        /// reconnect) is tested; a ready one signs in; one on its own app registration first
        /// gets it.
        pub fn go_on_from(&self, state: JsValue, reconnect: bool) {
            let mailbox = text(&state, "mailbox").unwrap_or_default();
            write("embed-mailbox", &mailbox);
            *self.0.mailbox.borrow_mut() = mailbox;
            write(
                "embed-app-name",
                &text(&state, "app_name").unwrap_or_default(),
            );
            self.set_problem(problem_of(&field(&state, "problem")));
            if flag(&state, "needs_app") && !reconnect {
                self.0
                    .parent
                    .send("step_changed", &[("step", Value::Str("app_details"))]);
                self.show(Phase::AppSetup);
                spawn_local(super::go_on(self.clone(), super::Next::AppForm(state)));
                return;
            }
            self.0
                .parent
                .send("step_changed", &[("step", Value::Str("sign_in"))]);
            if !flag(&state, "ready_to_sign_in") {
                self.show(Phase::NotReady);
            } else if flag(&state, "connected") && !reconnect {
                self.test();
            } else {
                self.show(Phase::SignIn);
            }
        }

        /// The sign-in button: the popup opens now, in the click (so no blocker stops it), and
        /// is sent to its one-time ticket once the server made one.
        pub fn sign_in(&self, admin_consent: bool) {
            if matches!(*self.0.phase.borrow(), Phase::Waiting(_)) {
                return;
            }
            let popup = web_sys::window().and_then(|w| {
                w.open_with_url_and_target_and_features(
                    "",
                    "mailkey-sign-in",
                    "popup=yes,width=520,height=700",
                )
                .ok()
                .flatten()
            });
            self.show(Phase::Waiting(None));
            let flow = self.clone();
            spawn_local(super::go_on(
                flow,
                super::Next::SignIn(popup, admin_consent),
            ));
        }

        /// A signed-in result: the test follows.
        pub fn signed_in(&self) {
            self.set_problem(None);
            self.0.parent.send("signed_in", &[]);
            self.test();
        }

        /// A refused sign-in: its explanation, and the parent hears it.
        pub fn sign_in_refused(&self, problem: Option<Problem>) {
            if let Some(p) = &problem {
                self.0.parent.send(
                    "error",
                    &[
                        ("code", Value::Str("sign_in_failed")),
                        ("message", Value::Str(&p.title)),
                    ],
                );
            }
            self.set_problem(problem);
            self.show(Phase::SignIn);
        }

        /// Shows the phase: the first step's own elements here, the later views follow the
        /// signal.
        pub fn show(&self, phase: Phase) {
            reveal("embed-starting", phase == Phase::Starting);
            reveal("embed-stopped", matches!(phase, Phase::Stopped(_)));
            if let Phase::Stopped(words) = &phase {
                say("embed-stopped", words);
            }
            reveal("embed-not-ready", phase == Phase::NotReady);
            reveal("embed-waiting", matches!(phase, Phase::Waiting(_)));
            let blocked = match &phase {
                Phase::Waiting(Some(url)) => Some(url.as_str()),
                _ => None,
            };
            if let (Some(url), Some(link)) = (blocked, element("embed-open-sign-in")) {
                let _ = link.set_attribute("href", url);
            }
            reveal("embed-blocked", blocked.is_some());
            reveal("embed-sign-in-step", phase == Phase::SignIn);
            for watcher in self.0.watchers.borrow().iter() {
                watcher(&phase);
            }
            *self.0.phase.borrow_mut() = phase;
        }

        pub fn phase(&self) -> Phase {
            self.0.phase.borrow().clone()
        }

        /// Calls `then` with each phase shown from now on.
        pub fn watch(&self, then: impl Fn(&Phase) + 'static) {
            self.0.watchers.borrow_mut().push(Box::new(then));
        }

        pub fn test_view(&self) -> Option<TestView> {
            *self.0.test_view.borrow()
        }

        pub fn set_test_view(&self, view: TestView) {
            *self.0.test_view.borrow_mut() = Some(view);
        }

        pub fn credential(&self) -> String {
            self.0.credential.borrow().clone().unwrap_or_default()
        }

        /// The last sign-in's explanation under the button, or none.
        pub fn set_problem(&self, problem: Option<Problem>) {
            reveal("embed-problem", problem.is_some());
            reveal(
                "embed-admin-consent",
                problem.as_ref().is_some_and(|p| p.admin_consent),
            );
            if let Some(p) = &problem {
                say("embed-problem-title", &p.title);
                say("embed-problem-what", &p.what);
                say("embed-problem-fix", &p.fix);
            }
        }

        /// Runs the connection test and follows it (its code loads now, not with the page);
        /// that code shows the Testing phase, once the last run's results are cleared.
        pub fn test(&self) {
            self.0
                .parent
                .send("step_changed", &[("step", Value::Str("test"))]);
            spawn_local(super::go_on(self.clone(), super::Next::Test));
        }

        /// The test's end: the parent hears it, and a connected hosted page returns to the host.
        pub fn finished(&self, ok: bool, code: &str, diagnosis: Option<Diagnosis>) {
            let launched = self.0.launched.borrow().clone();
            let account_id = text(&launched, "account_id").unwrap_or_default();
            let external_id = text(&launched, "external_id");
            if !ok {
                self.0
                    .parent
                    .send("test_failed", &[("code", Value::Str(code))]);
                if let Some(v) = self.test_view() {
                    v.diagnosis.set(diagnosis);
                }
                return self.show(Phase::Failed);
            }
            let who = self.0.mailbox.borrow().clone();
            self.0.parent.send("test_passed", &[]);
            let mut fields = vec![("account_id", Value::Str(&account_id))];
            if let Some(e) = &external_id {
                fields.push(("external_id", Value::Str(e)));
            }
            self.0.parent.send("connected", &fields);
            self.show(Phase::Connected(who));
            if !framed() {
                if let Some(back) = &self.0.return_url {
                    let sep = if back.contains('?') { '&' } else { '?' };
                    let to =
                        format!("{back}{sep}mailkey_outcome=connected&account_id={account_id}");
                    if let Some(w) = web_sys::window() {
                        let _ = w.location().set_href(&to);
                    }
                }
            }
        }
    }
}

/// What the flow goes on to after its first step.
#[cfg(feature = "hydrate")]
enum Next {
    /// The popup (already opened in the click, if not blocked), and whether it asks an
    /// administrator's consent.
    SignIn(Option<web_sys::Window>, bool),
    Test,
    /// The own app registration's form, with the `EmbedState` that asked for it.
    AppForm(web_sys::wasm_bindgen::JsValue),
}

/// Everything after the first step, in one chunk: the sign-in's wait, the connection test and
/// its view, the own-app form. Loaded at the sign-in click (the person is at Microsoft's page
/// meanwhile), or when the first step needs one of them. One chunk rather than one each: each
/// chunk the first step shares code with splits that code into more small files, and their
/// overhead cost the first load about 2 KB brotli.
#[cfg(feature = "hydrate")]
#[lazy]
async fn go_on(flow: client::Flow, next: Next) {
    match next {
        Next::SignIn(popup, admin_consent) => sign_in_and_wait(flow, popup, admin_consent).await,
        Next::Test => follow_test(flow).await,
        Next::AppForm(state) => show_app_form(flow, state),
    }
}

/// Runs the test and follows it until its report (read with serde), then ends it as the flow
/// does; the first test mounts the test's view.
#[cfg(feature = "hydrate")]
async fn follow_test(flow: client::Flow) {
    let view = match flow.test_view() {
        Some(v) => v,
        None => {
            let v = client::TestView {
                stages: RwSignal::new(Vec::new()),
                diagnosis: RwSignal::new(None),
            };
            flow.set_test_view(v);
            show_results(&flow, v);
            v
        }
    };
    // The last run's stages and diagnosis go before "Testing" shows beside them.
    view.stages.set(Vec::new());
    view.diagnosis.set(None);
    flow.show(Phase::Testing);
    match run_test(&flow.credential(), view.stages).await {
        Ok(report) => {
            let code = report
                .diagnosis
                .as_ref()
                .map(|d| d.code.clone())
                .unwrap_or_default();
            flow.finished(report.ok, &code, report.diagnosis)
        }
        Err(t) => flow.stop(t),
    }
}

/// Starts a test and shows its stages as they come: its report, or why it could not be followed.
#[cfg(feature = "hydrate")]
async fn run_test(
    credential: &str,
    stages: RwSignal<Vec<crate::mail_test::StageEvent>>,
) -> Result<crate::mail_test::TestReport, client::Trouble> {
    use crate::mail_test::{StageEvent, TestReport};
    use client::{call, Trouble};

    let started = call(Some(credential), "POST", "/embed/api/tests", None).await?;
    let run = client::text(&started, "run").ok_or_else(|| {
        Trouble::Said("Mailkey did not start the test. Reload and try again.".into())
    })?;
    let mut seen = 0usize;
    loop {
        let path = format!("/embed/api/tests/{run}?after={seen}");
        let progress = call(Some(credential), "GET", &path, None).await?;
        let json = web_sys::js_sys::JSON::stringify(&progress)
            .ok()
            .and_then(|s| s.as_string())
            .unwrap_or_default();
        #[derive(serde::Deserialize)]
        struct Progress {
            #[serde(default)]
            events: Vec<StageEvent>,
            report: Option<TestReport>,
        }
        let p = serde_json::from_str::<Progress>(&json).map_err(|_| {
            Trouble::Said("Mailkey's answer could not be read. Reload and try again.".into())
        })?;
        seen += p.events.len();
        stages.update(|all| {
            for e in p.events {
                match all.iter_mut().find(|s| s.stage == e.stage) {
                    Some(s) => *s = e,
                    None => all.push(e),
                }
            }
            all.sort_by_key(|s| s.stage.order());
        });
        if let Some(report) = p.report {
            stages.set(report.stages.clone());
            return Ok(report);
        }
    }
}

/// The flow's phase as a signal, for a view mounted after the first step.
#[cfg(feature = "hydrate")]
fn phase_signal(flow: &client::Flow) -> RwSignal<Phase> {
    let phase = RwSignal::new(flow.phase());
    flow.watch(move |p| phase.set(p.clone()));
    phase
}

/// The connection test's view (its timeline, its diagnosis, the end), mounted once (with the
/// test's signals) the first time a test starts; it follows the flow's phase from then on.
#[cfg(feature = "hydrate")]
fn show_results(flow: &client::Flow, test: client::TestView) {
    use leptos::either::EitherOf3;
    let client::TestView { stages, diagnosis } = test;
    let Some(el) = client::element("embed-results") else {
        return;
    };
    let phase = phase_signal(flow);
    let flow = StoredValue::new_local(flow.clone());
    let view = move || {
        let state = phase.get();
        let shown = matches!(state, Phase::Testing | Phase::Failed | Phase::Connected(_));
        shown.then(|| {
            view! {
                {match state {
                    Phase::Connected(who) => EitherOf3::A(view! {
                        <div class="alert alert-success embed-connected" role="status" id="embed-connected">
                            <h2>"Connected"</h2>
                            <p>{format!("{who} can send and receive: the test mail went out and came back.")}</p>
                        </div>
                    }),
                    Phase::Testing => EitherOf3::B(view! {
                        <p role="status" id="embed-testing">"Testing: sending a message and reading it back…"</p>
                    }),
                    _ => EitherOf3::C(()),
                }}
                <ol class="timeline">
                    {move || stages.with(|s| s.iter().map(super::wizard::stage_row).collect_view())}
                </ol>
                {move || diagnosis.get().map(|d| view! {
                    <div class="alert alert-error" role="alert" id="embed-diagnosis" data-code=d.code>
                        <h2>{d.title}</h2>
                        <p><strong>"What happened: "</strong>{d.what}</p>
                        <p><strong>"Why: "</strong>{d.why}</p>
                        <p><strong>"What to do: "</strong>{d.fix}</p>
                    </div>
                })}
                {(phase.get() == Phase::Failed).then(|| view! {
                    <p class="step-nav">
                        <button type="button" class="button button-secondary"
                            on:click=move |_| flow.with_value(|f| f.sign_in(false))>"Sign in again"</button>
                        <button type="button" class="button button-primary" id="embed-test-again"
                            on:click=move |_| flow.with_value(|f| f.test())>"Test again"</button>
                    </p>
                })}
            }
        })
    };
    // The closure is the view (reactive), so it is what the mount's factory answers.
    leptos::mount::mount_to_renderer(&el, move || view).forget();
}

/// After the sign-in click (the popup already open): gets the popup's one-time ticket, sends the
/// popup to it, and waits for the server to say how the sign-in ended.
#[cfg(feature = "hydrate")]
async fn sign_in_and_wait(flow: client::Flow, popup: Option<web_sys::Window>, admin_consent: bool) {
    use client::{field, flag, object, problem_of, text, Value};
    let body = object(&[("admin_consent", Value::Bool(admin_consent))]);
    let ticket = match flow.call("POST", "/embed/api/sign-in", Some(body)).await {
        Ok(t) => t,
        Err(t) => {
            if let Some(p) = &popup {
                let _ = p.close();
            }
            return flow.stop(t);
        }
    };
    let url = text(&ticket, "url").unwrap_or_default();
    match &popup {
        Some(p) => {
            let _ = p.location().set_href(&url);
        }
        None => flow.show(Phase::Waiting(Some(url))),
    }
    let ticket = text(&ticket, "ticket").unwrap_or_default();
    // About ten minutes (as long as the ticket lives), or until the popup is closed without a
    // result.
    for _ in 0..30 {
        let result = match flow
            .call("GET", &format!("/embed/api/sign-in/{ticket}"), None)
            .await
        {
            Ok(r) => r,
            Err(t) => return flow.stop(t),
        };
        if !flag(&result, "finished") {
            if popup.as_ref().is_some_and(|p| p.closed().unwrap_or(false)) {
                return flow.show(Phase::SignIn);
            }
            continue;
        }
        if flag(&result, "connected") {
            return flow.signed_in();
        }
        return flow.sign_in_refused(problem_of(&field(&result, "problem")));
    }
    flow.show(Phase::SignIn);
}

/// The own app registration's step: where to register it in Entra (with the redirect URI and
/// the permissions), and its details as the wizard's Application details step asks for them,
/// each checked as it is typed by the same rules. Mounted once; it shows while the flow is at
/// this step.
#[cfg(feature = "hydrate")]
fn show_app_form(flow: client::Flow, state: web_sys::wasm_bindgen::JsValue) {
    use crate::components::field::{FieldMessage, InputKind};
    use crate::rules::{dates::Day, secret, tenant, Check, Note};
    use client::{field, object, text, Trouble, Value};

    let Some(el) = client::element("embed-app-form") else {
        return;
    };
    if el.has_attribute("data-mounted") {
        return;
    }
    let _ = el.set_attribute("data-mounted", "");
    let phase = phase_signal(&flow);
    const FIELDS: [&str; 4] = ["client_id", "client_secret", "tenant", "secret_expires"];
    let redirect_uri = text(&state, "redirect_uri").unwrap_or_default();
    let today = Day(field(&state, "today").as_f64().unwrap_or(0.0) as i64);

    let client_id = RwSignal::new(String::new());
    let client_secret = RwSignal::new(String::new());
    let tenant_v = RwSignal::new(String::new());
    let expires = RwSignal::new(String::new());
    // What the server said of each field at the last save (cleared as the field changes).
    let said = RwSignal::new(Vec::<(String, String)>::new());
    let overall = RwSignal::new(None::<String>);
    let saving = RwSignal::new(false);
    let flow = StoredValue::new_local(flow);

    // By the field: the server's word at the last save (an error), else the rule's note.
    let note = move |name: &'static str, local: Check| {
        said.with(|s| {
            s.iter()
                .find(|(f, _)| f == name)
                .map(|(_, m)| Note::error(m.clone()))
        })
        .or(local)
    };
    let check_id = move || secret::check_client_id(&client_id.get());
    let check_secret = move || secret::check_client_secret(&client_secret.get(), false);
    let check_tenant = move || {
        let t = tenant_v.get();
        (!t.trim().is_empty()).then(|| tenant::check(&t)).flatten()
    };
    let check_expires = move || secret::check_expiry(&expires.get(), today);
    let forget = move |name: &'static str| {
        said.update(|s| s.retain(|(f, _)| f != name));
        overall.set(None);
    };

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let blocking = [check_id(), check_secret(), check_tenant(), check_expires()]
            .into_iter()
            .flatten()
            .any(|n| n.is_error());
        if saving.get_untracked() {
            return;
        }
        if blocking {
            overall.set(Some(
                "Some values need fixing: see the messages by the fields.".into(),
            ));
            return;
        }
        saving.set(true);
        overall.set(None);
        let body = object(&[
            ("client_id", Value::Str(&client_id.get_untracked())),
            ("client_secret", Value::Str(&client_secret.get_untracked())),
            ("tenant", Value::Str(&tenant_v.get_untracked())),
            ("secret_expires", Value::Str(&expires.get_untracked())),
        ]);
        let flow = flow.get_value();
        leptos::task::spawn_local(async move {
            let answer = flow.call("PUT", "/embed/api/app", Some(body)).await;
            saving.set(false);
            match answer {
                Ok(saved) => flow.go_on_from(field(&saved, "state"), false),
                Err(Trouble::Invalid(fields, words)) => {
                    let names = web_sys::js_sys::Object::keys(&fields.clone().into());
                    let all: Vec<(String, String)> = names
                        .iter()
                        .filter_map(|k| k.as_string())
                        .map(|k| {
                            let m = text(&fields, &k).unwrap_or_default();
                            (k, m)
                        })
                        .collect();
                    // A refusal of a value this form does not show (the named mailbox, found
                    // unusable once the app is in) is said in the overall words.
                    let elsewhere: Vec<String> = all
                        .iter()
                        .filter(|(k, _)| !FIELDS.contains(&k.as_str()))
                        .map(|(_, m)| m.clone())
                        .collect();
                    said.set(all);
                    overall.set(Some(if elsewhere.is_empty() {
                        words
                    } else {
                        elsewhere.join(" ")
                    }));
                }
                Err(t) => flow.stop(t),
            }
        });
    };

    let row = move |name: &'static str,
                    label: &'static str,
                    kind: InputKind,
                    hint: &'static str,
                    value: RwSignal<String>,
                    check: Box<dyn Fn() -> Check + Send + Sync>| {
        let id = format!("f-{name}");
        let msg_id = format!("m-{name}");
        let shown = Signal::derive(move || note(name, check()));
        view! {
            <div class="field">
                <label for=id.clone()>{label}</label>
                <p class="field-hint">{hint}</p>
                <input id=id name=name type=kind.html_type autocomplete=kind.autocomplete
                    spellcheck=kind.spellcheck.to_string()
                    aria-describedby=msg_id.clone()
                    aria-invalid=move || shown.with(|n| n.as_ref().is_some_and(Note::is_error)).to_string()
                    prop:value=move || value.get()
                    on:input=move |ev| { forget(name); value.set(event_target_value(&ev)); }/>
                <FieldMessage id=msg_id note=shown/>
            </div>
        }
    };

    let view = view! {
        <div hidden=move || phase.get() != Phase::AppSetup id="embed-app">
            <h2>"Register the app in Microsoft Entra"</h2>
            <ol class="guide">
                <li>"In the Microsoft Entra admin center, open " <strong>"App registrations"</strong> " → "
                    <strong>"New registration"</strong> ". Supported account types: this organizational directory only."</li>
                <li>"Redirect URI: platform " <strong>"Web"</strong> ", and this address:"
                    <div class="copy-value"><code class="copy-text" id="embed-redirect-uri">{redirect_uri}</code></div></li>
                <li><strong>"API permissions"</strong> " → Microsoft Graph → Delegated: "
                    <code>"offline_access"</code> ", " <code>"IMAP.AccessAsUser.All"</code> ", " <code>"SMTP.Send"</code> "."</li>
                <li><strong>"Certificates & secrets"</strong> " → " <strong>"New client secret"</strong>
                    ": copy its " <strong>"Value"</strong> " (not the Secret ID) and note its expiry."</li>
            </ol>
            <form on:submit=submit novalidate>
                {row("client_id", "Application (client) ID", InputKind::TEXT, "On the app's Overview page.", client_id, Box::new(check_id))}
                {row("client_secret", "Client secret value", InputKind::SECRET, "The Value column, shown once when the secret is added.", client_secret, Box::new(check_secret))}
                {row("tenant", "Directory (tenant) ID (optional)", InputKind::TEXT, "Found from the mailbox's domain when left empty.", tenant_v, Box::new(check_tenant))}
                {row("secret_expires", "Secret expires (optional)", InputKind::DATE, "So Mailkey can warn before the secret stops working.", expires, Box::new(check_expires))}
                {move || overall.get().map(|w| view! { <p class="alert alert-error" role="alert" id="embed-app-error">{w}</p> })}
                <button type="submit" class="button button-primary" id="embed-save-app" disabled=move || saving.get()>
                    {move || if saving.get() { "Checking…" } else { "Save and continue" }}
                </button>
            </form>
        </div>
    };
    leptos::mount::mount_to_renderer(&el, move || view).forget();
}
