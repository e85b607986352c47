//! The browser's entry point. Mailkey renders its pages on the server and hydrates only the
//! interactive islands in them (menus, forms, copy buttons), so the wasm carries no page that does
//! not need it.

// Links the app crate, whose `#[island]` components the hydration script looks up by name.
#[allow(unused_imports)]
use mailkey_app::*;

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_islands();
    // The embedded page has no island: its flow is booted (see `pages::embed`).
    mailkey_app::boot_embedded();
}
