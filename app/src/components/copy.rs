//! A value the admin must paste into Entra, with a copy button. The value stays selectable
//! text, so it can be copied by hand before the wasm loads or where the clipboard is blocked.

use leptos::prelude::*;

#[island]
pub fn CopyValue(value: String, label: String) -> impl IntoView {
    let copied = RwSignal::new(false);
    let hydrated = super::hydrated::marker();
    let text = value.clone();
    let copy = move |_| {
        #[cfg(feature = "hydrate")]
        {
            if let Some(w) = web_sys::window() {
                // The promise is not awaited: the button says "Copied" at once, as every
                // clipboard UI does; a refusal leaves the selectable text to copy by hand.
                let _ = w.navigator().clipboard().write_text(&text);
                copied.set(true);
            }
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = &text;
    };
    view! {
        <div class="copy-value" data-hydrated=hydrated>
            <code class="copy-text">{value}</code>
            <button type="button" class="button button-secondary copy-button" on:click=copy aria-label=format!("Copy {label}")>
                {move || if copied.get() { "Copied" } else { "Copy" }}
            </button>
        </div>
    }
}
