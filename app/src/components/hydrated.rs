//! Tells people and tests that an island's wasm has taken over: its root element gets
//! `data-hydrated="true"` once it runs in the browser (server-rendered HTML never has it).

use leptos::prelude::*;

pub fn marker() -> Signal<Option<&'static str>> {
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));
    Signal::derive(move || hydrated.get().then_some("true"))
}

/// Leaves the page for another one. Islands have no client-side router: a saved step loads the
/// next step's server-rendered page.
pub fn go_to(path: &str) {
    #[cfg(feature = "hydrate")]
    if let Some(w) = web_sys::window() {
        let _ = w.location().set_href(path);
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = path;
}
